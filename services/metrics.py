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

    def _gauge(self, key: str):
        from ray.util.metrics import Gauge

        if key not in self.gauges:
            name = "rlvr_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)
            self.gauges[key] = Gauge(name, description=f"RLVR-World {key}", tag_keys=("stage",))
        return self.gauges[key]

    def log(self, step: int, total: int | None, metrics: dict) -> None:
        record = {"stage": self.stage, "step": step, "elapsed_s": round(time.perf_counter() - self.start, 3), **metrics}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        try:
            for key, value in metrics.items():
                if isinstance(value, (int, float)) and value == value:
                    self._gauge(key).set(float(value), tags={"stage": self.stage})
        except Exception:  # metrics export must never stop training (e.g. no metrics agent)
            pass
        shown = "  ".join(f"{k}={metrics[k]:.4g}" for k in PROGRESS_KEYS if isinstance(metrics.get(k), (int, float)))
        progress = f"{step}/{total}" if total else f"{step}, {record['elapsed_s']:.0f} s"
        print(f"[{self.stage} {progress}] {shown}", file=sys.stderr, flush=True)
