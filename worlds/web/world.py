"""The web world: page transitions from files or recorded from MiniWoB++ pages, rendered as examples."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from worlds.config import WebConfig, WorldConfig
from worlds.registry import Example, register_world
from worlds.web.data import load_rows
from worlds.web.prompt import render_prompt
from worlds.web.tree import NONE_ITEM, SECTIONS, target_changes

SPLITS = ("train", "validation", "test")
RECORDER_VERSION = 1  # bump when the recorder's output changes: cached recordings are then made anew
SHIPPED = Path(__file__).parent / "recordings"  # recordings that ship with the project (the demo's), xz-compressed
ALL_NONE = "\n\n".join(f"{h}\n{NONE_ITEM}" for h in SECTIONS)  # the "nothing changes" answer (the baseline)


def split_episodes(rows: list[dict], cfg: WebConfig, seed: int) -> dict[str, list[dict]]:
    """{split: rows}: whole episodes, ordered by a hash of (seed, episode), the first test_fraction to
    test and the next validation_fraction to validation; holdout_tasks' episodes all go to test."""
    episodes = sorted({r["episode"] for r in rows if r.get("task") not in cfg.holdout_tasks})
    episodes.sort(key=lambda e: hashlib.sha256(f"{seed}/{e}".encode()).hexdigest())
    n_test = max(1, round(cfg.test_fraction * len(episodes)))
    n_val = round(cfg.validation_fraction * len(episodes))
    split_of = {e: "test" for e in episodes[:n_test]} | {e: "validation" for e in episodes[n_test : n_test + n_val]}
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for row in rows:
        split = "test" if row.get("task") in cfg.holdout_tasks else split_of.get(row["episode"], "train")
        out[split].append(row)
    return out


def recording_key(cfg: WebConfig, seed: int) -> str:
    settings = {"tasks": cfg.record_tasks, "episodes": cfg.record_episodes, "steps": cfg.record_steps, "seed": seed, "v": RECORDER_VERSION}
    return hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:12]


@register_world("web")
class WebWorld:
    """Web-page state prediction (PAPER.md domain 2): accessibility tree + action -> the page's change."""

    verifier = "web"

    def __init__(self, config: WorldConfig, workdir: str | None = None):
        self.config = config
        self.cfg = config.web
        self.workdir = Path(workdir) if workdir else None
        self._splits: dict[str, list[dict]] | None = None

    def recording_path(self) -> Path:
        if self.cfg.recording_path:
            return Path(self.cfg.recording_path)
        cache = self.workdir.parent if self.workdir else Path(".cache")
        return cache / "web_recordings" / f"miniwob-{recording_key(self.cfg, self.config.seed)}.jsonl"

    def record(self) -> Path:
        """The recording: the cached one, else the project's own for these settings (worlds/web/recordings/),
        else made now in chromium and cached (then reused by every run)."""
        path = self.recording_path()
        if path.exists():
            return path
        shipped = SHIPPED / f"{path.name}.xz"
        if not self.cfg.recording_path and shipped.exists():
            return shipped
        from worlds.web.recorder import record, summary_line, write_jsonl

        result = record(self.cfg.record_tasks, self.cfg.record_episodes, self.cfg.record_steps, seed=self.config.seed, workers=self.cfg.record_workers)
        if not result["rows"]:
            raise RuntimeError(f"the web recorder recorded no transitions (failed episodes: {result['failed'][:5]})")
        write_jsonl(result["rows"], path)
        print(f"{summary_line(result)}; saved {path}")
        return path

    def rows(self, split: str) -> list[dict]:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        path = getattr(self.cfg, f"{split}_path")
        if path:
            return load_rows(path)
        if self._splits is None:
            self._splits = split_episodes(load_rows(self.record()), self.cfg, self.config.seed)
        return self._splits[split]

    def examples(self, split: str) -> list[Example]:
        return [
            Example(
                id=row["id"],
                prompt=render_prompt(row, self.cfg.prompt_style),
                reference={"target": row["target"]},
                answer=row["target"],
                meta={"task": row.get("task"), "episode": row["episode"], "changed": target_changes(row["target"]), "line": row["line"]},
            )
            for row in self.rows(split)
        ]

    def baselines(self, examples: list[Example]) -> dict[str, list[str]]:
        """Fixed answers scored beside the models: `none_baseline` says nothing changes (WEB.md: F1 about 0.63)."""
        return {"none_baseline": [ALL_NONE] * len(examples)}

    def report(self, run_dir: Path, examples: list[Example], responses: dict[str, list[str]], count: int = 8) -> Path:
        """A few held-out transitions with each model's prediction and the truth, as text."""
        changed = [i for i, ex in enumerate(examples) if ex.meta["changed"]]
        picked = (changed[: count // 2] + [i for i in range(len(examples)) if i not in changed][: count - count // 2])[:count]
        parts = []
        for i in picked:
            ex = examples[i]
            parts.append(f"=== {ex.id} (changed: {ex.meta['changed']}) ===\n--- prompt ---\n{ex.prompt}\n--- truth ---\n{ex.answer}\n")
            parts += [f"--- {name} ---\n{preds[i].strip()}\n" for name, preds in responses.items()]
        path = Path(run_dir) / "web_samples.txt"
        path.write_text("\n".join(parts), encoding="utf-8")
        return path
