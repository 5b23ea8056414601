"""Prompt rendering for text-game state prediction (the paper's "full" setting).

The model sees the rules of the game, the current state (objects + score), the UUID base for new
objects and the action, and must answer a state diff after "The final answer is:".
`style="full"` includes the game's object / action / score rules (the paper); `style="state_only"`
leaves them out (short prompts for tiny models on the built-in games).
"""

from __future__ import annotations

import json

from worlds.text_game.state import compute_diff

INSTRUCTION = (
    "You simulate a text game. Given the game's rules, the current game state as JSON and an action, "
    "predict the game state after the action and one time step, including the game score.\n"
    "Answer with a JSON object with three keys: \"modified\": the full states of all objects that are "
    "added or changed (new objects take uuids counting up from the UUID base); \"removed\": the uuids of "
    "removed objects; \"score\": the new {\"score\", \"gameOver\", \"gameWon\"} if it changed, else {}. "
    "Use empty lists and {} when nothing changes.\n"
)
ANSWER_PROMPT = 'Think it through briefly, then write "The final answer is:" followed by the JSON.'
STYLES = ("full", "state_only")


def compact_json(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def render_prompt(row: dict, rules: dict[str, str] | None, style: str = "full") -> str:
    """The question for one transition row."""
    if style not in STYLES:
        raise ValueError(f"unknown prompt style {style!r}; expected one of {STYLES}")
    state = row["current_state"]
    parts = []
    if style == "full":
        rules = rules or {}
        parts += [
            INSTRUCTION,
            f"Task description:\n{state.get('taskDesc', '')}\n",
            f"Object rules:\n{rules.get('object', '').strip()}\n",
            f"Action rules:\n{rules.get('action', '').strip()}\n",
            f"Score rules:\n{rules.get('score', '').strip()}\n",
        ]
    parts += [
        f"Game state:\n{compact_json(state['objects'])}\n",
        f"Score:\n{compact_json(row['current_score_state'])}\n",
        f"UUID base: {state.get('max_UUID', '')}\n",
        f"Action: {row['action_state'].get('lastAction', '')}\n",
    ]
    if style == "full":
        parts.append(ANSWER_PROMPT)
    return "".join(parts)


ANSWER_MARKER = "The final answer is:"


def render_answer(row: dict) -> str:
    """The reference answer for one row: the marker and the true diff (the MLE / SFT target)."""
    state, nxt = row["current_state"], row["tick_state"]
    diff = compute_diff(state["objects"], nxt["objects"], row["current_score_state"], row["next_score_state"])
    return f"{ANSWER_MARKER} {compact_json(diff)}"
