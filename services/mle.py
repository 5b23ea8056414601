"""The MLE / SFT stage: cross-entropy on the answers, for a number of epochs or a time budget."""

from __future__ import annotations

import random
import time

from services.metrics import MetricsLogger
from services.run import Encoded, Run


def mle_stage(run: Run, model_path: str, data: list[Encoded], name: str = "mle", time_budget_s: float | None = None) -> str:
    """MLE / SFT on the answers for `run.mle_epochs` passes, or for `time_budget_s` seconds; exports the model."""
    from learner.group import LearnerGroup

    cfg = run.cfg
    learner_cfg = cfg.learner.model_copy(update={"lr": cfg.run.mle_lr, "algorithm": cfg.learner.algorithm.model_copy(update={"kl_coef": 0.0})})
    learner = LearnerGroup(model_path, learner_cfg, role="mle-learner")
    log = MetricsLogger(run.metrics_path, name)
    rng = random.Random(cfg.run.seed)
    steps = max(1, int(cfg.run.mle_epochs * len(data) / cfg.run.mle_batch_size))
    if time_budget_s is not None:
        steps = 10**9  # train until the time budget is spent, however many epochs that is
    start = time.perf_counter()
    try:
        order: list[Encoded] = []
        for step in range(1, steps + 1):
            if len(order) < cfg.run.mle_batch_size:
                order += rng.sample(data, len(data))
            batch, order = order[: cfg.run.mle_batch_size], order[cfg.run.mle_batch_size :]
            t0 = time.perf_counter()
            metrics = learner.train_mle([e.mle_sample() for e in batch])
            log.log(step, None if time_budget_s else steps, {**metrics, "time/step": time.perf_counter() - t0})
            if time_budget_s is not None and time.perf_counter() - start >= time_budget_s:
                break
        out = run.dir / name
        learner.export_hf(str(out))
        return str(out)
    finally:
        log.close()
        learner.shutdown()
