"""The MLE / SFT stage: cross-entropy on the answers, for a number of epochs or a time budget."""

from __future__ import annotations

import math
import random
import time

from services.config import MLEConfig
from services.metrics import MetricsLogger
from services.run import Encoded, Pools, Run


def mle_lr(mle: MLEConfig, step: int, steps: int | None) -> float:
    """Learning rate of MLE update `step` (1-based) of `steps`; `steps=None` (a time budget): the schedule's final lr."""
    if mle.lr_schedule == "constant":
        return mle.lr
    final = mle.lr * mle.min_lr_ratio
    if steps is None:
        return final
    progress = (step - 1) / max(1, steps - 1)  # 0 at the first update, 1 at the last
    return final + (mle.lr - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


def mle_stage(run: Run, model_path: str, data: list[Encoded], pools: Pools, name: str = "mle", time_budget_s: float | None = None) -> str:
    """MLE / SFT on the answers for `mle.epochs` passes, or for `time_budget_s` seconds, on the job's
    learner group (`pools.learner`, kept for the next stage); exports the model to <run dir>/<name>."""
    cfg = run.cfg
    steps = None if time_budget_s is not None else max(1, int(cfg.mle.epochs * len(data) / cfg.mle.batch_size))
    learner_cfg = cfg.learner.model_copy(update={"algorithm": cfg.learner.algorithm.model_copy(update={"kl_coef": 0.0})})
    lr = mle_lr(cfg.mle, 1, steps)
    learner = pools.learner(model_path, learner_cfg, lr)
    log = MetricsLogger(run.metrics_path, name)
    rng = random.Random(cfg.run.seed)
    start = time.perf_counter()
    try:
        order: list[Encoded] = []
        step = 0
        while steps is None or step < steps:  # a time budget: train until it is spent, however many epochs that is
            step += 1
            if len(order) < cfg.mle.batch_size:
                order += rng.sample(data, len(data))
            batch, order = order[: cfg.mle.batch_size], order[cfg.mle.batch_size :]
            if (scheduled := mle_lr(cfg.mle, step, steps)) != lr:
                lr = scheduled
                learner.set_lr(lr)
            t0 = time.perf_counter()
            metrics = learner.train_mle([e.mle_sample() for e in batch])
            log.log(step, steps, {**metrics, "lr": lr, "time/step": time.perf_counter() - t0})
            if time_budget_s is not None and time.perf_counter() - start >= time_budget_s:
                break
        out = run.dir / name
        learner.export_hf(str(out))
        return str(out)
    finally:
        log.close()
