"""Step metrics: appended to the run's metrics.jsonl, written as TensorBoard scalars (<run dir>/tensorboard,
tag `<stage>/<metric>`), shown as a progress bar (a progress line per step when the console is not a
terminal, e.g. a Ray job's log), and exported as Ray metrics (ray.util.metrics gauges `rlvr_<metric>`,
in the Ray dashboard and on each node's Prometheus endpoint)."""

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
        self.board = None  # TensorBoard writer, opened at the first step
        self.bar = None  # tqdm bar on a terminal

    def close(self) -> None:
        if self.board is not None:
            self.board.close()
        if self.bar is not None:
            self.bar.close()
        self.board = self.bar = None

    def _tensorboard(self, step: int, metrics: dict) -> None:
        from torch.utils.tensorboard import SummaryWriter

        if self.board is None:
            self.board = SummaryWriter(log_dir=str(self.path.parent / "tensorboard"), flush_secs=30)
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and value == value:
                self.board.add_scalar(f"{self.stage}/{key}", value, step)
        self.board.flush()

    def _progress(self, step: int, total: int | None, shown: str, elapsed: float) -> None:
        if not sys.stderr.isatty():
            progress = f"{step}/{total}" if total else f"{step}, {elapsed:.0f} s"
            print(f"[{self.stage} {progress}] {shown}", file=sys.stderr, flush=True)
            return
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, initial=step - 1, desc=self.stage, unit="step", dynamic_ncols=True)
        self.bar.set_postfix_str(shown, refresh=False)
        self.bar.update(step - self.bar.n)
        if total and step >= total:
            self.close()

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
        try:
            self._tensorboard(step, metrics)
        except OSError as err:  # the run directory's problems are reported by the metrics file above
            print(f"warning: TensorBoard scalars not written ({err})", file=sys.stderr)
        shown = "  ".join(f"{k}={metrics[k]:.4g}" for k in PROGRESS_KEYS if isinstance(metrics.get(k), (int, float)))
        self._progress(step, total, shown, record["elapsed_s"])
