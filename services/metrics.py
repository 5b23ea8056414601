"""Step metrics: appended to the run's metrics.jsonl, shown as a progress line, and exported as Ray
metrics (ray.util.metrics gauges, visible in the Ray dashboard / Prometheus)."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

PROGRESS_KEYS = ("mle_loss", "reward_mean", "accuracy_overall", "lpips", "invalid_rate", "kl", "clip_frac", "time/step")


class MetricsLogger:
    def __init__(self, path: Path, stage: str):
        self.path, self.stage = path, stage
        self.gauges: dict = {}
        self.start = time.perf_counter()

    def discard_after(self, step: int) -> list[int]:
        """Before steps after `step` are done again (a resume from the checkpoint of `step`): move this
        stage's records of later steps from the metrics file to metrics_discarded.jsonl, so the file
        holds each step once and nothing is lost. Returns the steps moved."""
        if not self.path.exists():
            return []
        lines = [line for line in self.path.read_text().splitlines(keepends=True) if line.strip()]
        redone = [(r := json.loads(line)).get("stage") == self.stage and r.get("step", 0) > step for line in lines]
        if any(redone):
            with open(self.path.with_name("metrics_discarded.jsonl"), "a") as f:
                f.writelines(line for line, later in zip(lines, redone) if later)
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            tmp.write_text("".join(line for line, later in zip(lines, redone) if not later))
            tmp.replace(self.path)
        return [json.loads(line)["step"] for line, later in zip(lines, redone) if later]

    def _gauge(self, key: str):
        from ray.util.metrics import Gauge

        if key not in self.gauges:
            name = "rlvr_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)
            self.gauges[key] = Gauge(name, description=f"RLVR-World {key}", tag_keys=("stage",))
        return self.gauges[key]

    def log(self, step: int, total: int | None, metrics: dict) -> None:
        record = {"stage": self.stage, "step": step, "elapsed_s": round(time.perf_counter() - self.start, 3), **metrics}
        try:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as err:
            from services.run import RunDirError

            raise RunDirError(f"cannot write {self.path} ({err.strerror}): free space or fix its permissions, then rerun the same "
                              f"command (the RL stage resumes from its newest checkpoint; finished stages are skipped)") from None
        try:
            for key, value in metrics.items():
                if isinstance(value, (int, float)) and value == value:
                    self._gauge(key).set(float(value), tags={"stage": self.stage})
        except Exception:  # metrics export must never stop training (e.g. no metrics agent)
            pass
        shown = "  ".join(f"{k}={metrics[k]:.4g}" for k in PROGRESS_KEYS if isinstance(metrics.get(k), (int, float)))
        progress = f"{step}/{total}" if total else f"{step}, {record['elapsed_s']:.0f} s"
        print(f"[{self.stage} {progress}] {shown}", file=sys.stderr, flush=True)
