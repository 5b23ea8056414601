"""RL checkpoints in the run directory: written atomically, checked before use, the last K kept.

    checkpoints/step<N>/        the learner's DeepSpeed files (weights, optimizer, the ranks' RNG
                                state) and manifest.json (every file's size)
    checkpoints/state.json      {"step": N, "tag": "step<N>", "tags": [older, ..., newest]}

A checkpoint is saved under a temporary name and renamed into place once every rank wrote its part;
state.json is written last (temporary name, then rename), so a crash at any moment leaves the
previous checkpoint in force. On load, a checkpoint whose files do not match its manifest, or that
the learner fails to load, is reported by path and the one before it used.

What a resumed step depends on is in the checkpoint or a function of (seed, step): the weights and
optimizer (here), the prompts of a step and their sampling seeds (services/pipeline.py), so a resumed
run repeats the uninterrupted one step for step.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from ray.exceptions import RayTaskError

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"


class CheckpointError(RuntimeError):
    """No checkpoint in the directory can be used; the message names them and what to do."""


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader sees the old content or the new one, never a torn file."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _files(directory: Path) -> dict[str, int]:
    return {str(p.relative_to(directory)): p.stat().st_size for p in sorted(directory.rglob("*")) if p.is_file() and p.name != MANIFEST}


class Checkpoints:
    def __init__(self, directory: Path, keep: int):
        self.dir, self.keep = Path(directory), keep
        self.state_file = self.dir / "state.json"

    def state(self) -> dict:
        if not self.state_file.exists():
            return {"tags": []}
        try:
            state = json.loads(self.state_file.read_text())
        except json.JSONDecodeError as err:
            raise CheckpointError(f"{self.state_file}: not valid JSON ({err.msg}); delete {self.dir} to start the RL stage over") from None
        state.setdefault("tags", [state["tag"]] if "tag" in state else [])
        return state

    def save(self, learner, step: int) -> Path:
        """Save the learner as checkpoint step<step>, make it the newest, drop the ones beyond `keep`.
        A write that fails (full disk, permissions) leaves the previous checkpoint in force and raises
        RunDirError naming the path."""
        try:
            return self._save(learner, step)
        except OSError as err:
            from services.run import RunDirError

            previous = self.state().get("tag")
            raise RunDirError(f"cannot write checkpoint step{step} under {self.dir} ({err.strerror}); "
                              f"{f'checkpoint {previous} is still in force' if previous else 'no checkpoint was written yet'}: "
                              f"free space, then rerun the same command") from None

    def _save(self, learner, step: int) -> Path:
        tag = f"step{step}"
        self.dir.mkdir(parents=True, exist_ok=True)
        staging = self.dir / f".saving-{tag}"
        shutil.rmtree(staging, ignore_errors=True)
        learner.save_checkpoint(str(staging), tag)
        written = staging / tag
        (written / MANIFEST).write_text(json.dumps({"step": step, "files": _files(written)}))
        final = self.dir / tag
        shutil.rmtree(final, ignore_errors=True)
        os.replace(written, final)
        shutil.rmtree(staging, ignore_errors=True)
        tags = [t for t in self.state()["tags"] if t != tag] + [tag]
        write_atomically(self.state_file, json.dumps({"step": step, "tag": tag, "tags": tags[-self.keep:]}))
        for old in tags[: -self.keep]:
            shutil.rmtree(self.dir / old, ignore_errors=True)
        return final

    def problem(self, tag: str) -> str | None:
        """Why checkpoint `tag` cannot be used, or None when its files match its manifest."""
        path = self.dir / tag
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except FileNotFoundError:
            return f"{path / MANIFEST} is missing"
        except json.JSONDecodeError:
            return f"{path / MANIFEST} is not valid JSON"
        found = _files(path)
        for name, size in manifest["files"].items():
            if name not in found:
                return f"{path / name} is missing"
            if found[name] != size:
                return f"{path / name} has {found[name]} bytes, {size} were written"
        return None

    def load(self, learner) -> int:
        """Load the newest usable checkpoint into the learner; returns its step (0: there is none yet)."""
        tags = self.state()["tags"]
        tried = []
        for tag in reversed(tags):
            problem = self.problem(tag)
            if problem is None:
                try:
                    learner.load_checkpoint(str(self.dir), tag)
                    return int(json.loads((self.dir / tag / MANIFEST).read_text())["step"])
                except RayTaskError as err:
                    problem = f"the learner could not load it: {str(err).strip().splitlines()[-1][:300]}"
            log.warning("checkpoint %s is unusable (%s); trying the one before", self.dir / tag, problem)
            tried.append(str(self.dir / tag))
        if tags:
            raise CheckpointError(f"no usable checkpoint in {self.dir} (tried {', '.join(tried)}): delete {self.dir} to start the RL stage over")
        return 0
