"""The text-game world: rows from a ByteSized32 file or the built-in simulator, rendered as examples."""

from __future__ import annotations

from worlds.config import WorldConfig
from worlds.registry import Example, register_world
from worlds.text_game import simulator
from worlds.text_game.data import load_rows, load_rules, row_id
from worlds.text_game.prompt import render_answer, render_prompt
from worlds.text_game.state import is_unchanged

SPLITS = ("train", "validation", "test")
PAPER_RL_MIX = {"text_game": 0.05, "text_game_binary": 0.40}  # unchanged per changed transition in the paper's RL sets


def reference(row: dict) -> dict:
    """What the verifier compares a prediction with."""
    return {
        "current_objects": row["current_state"]["objects"],
        "current_score": row["current_score_state"],
        "next_objects": row["tick_state"]["objects"],
        "next_score": row["next_score_state"],
    }


def to_example(row: dict, rules: dict[str, str] | None, style: str) -> Example:
    changed = not is_unchanged(row["current_state"]["objects"], row["tick_state"]["objects"], row["current_score_state"], row["next_score_state"])
    return Example(
        id=row_id(row),
        prompt=render_prompt(row, rules, style),
        reference=reference(row),
        answer=render_answer(row),
        meta={"game": row["game"], "changed": changed, "line": row.get("line")},
    )


@register_world("text_game")
class TextGameWorld:
    """ByteSized32-State-Prediction style transitions (PAPER.md domain 1)."""

    verifier = "text_game"


    def __init__(self, config: WorldConfig, workdir: str | None = None):
        self.config = config
        self.cfg = config.text_game
        self._rules = load_rules(self.cfg.rules_dir) if self.cfg.rules_dir else None

    def rows(self, split: str) -> list[dict]:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        path = getattr(self.cfg, f"{split}_path")
        if path:
            return load_rows(path)
        num_rows = getattr(self.cfg, f"builtin_{split}_rows")
        return simulator.generate(split, num_rows, seed=self.config.seed, games=self.cfg.builtin_games)

    def rules(self, game: str) -> dict[str, str] | None:
        if self._rules is not None:
            return self._rules.get(game)
        return simulator.rules(game) if game in simulator.GAMES else None

    def rl_unchanged_per_changed(self, verifier: str) -> float | None:
        """Unchanged transitions per changed one in the RL prompts (the configured value, else the
        paper's for the verifier; None = the natural mix, e.g. for a user's own verifier)."""
        configured = self.cfg.rl_unchanged_per_changed
        return configured if configured is not None else PAPER_RL_MIX.get(verifier)

    def examples(self, split: str) -> list[Example]:
        return [to_example(row, self.rules(row["game"]), self.cfg.prompt_style) for row in self.rows(split)]
