"""The controller: runs the job's stages in order (mle, rl, eval), each in its own module:
services/mle.py, services/rl.py (the RL loop), services/evaluation.py."""

from __future__ import annotations

import time
from pathlib import Path

from services.config import JobConfig
from services.evaluation import evaluate
from services.mle import mle_stage
from services.rl import rl_stage
from services.run import Run, load_tokenizer, prepare_model


def run_job(cfg: JobConfig) -> dict:
    """Run the configured stages in order; returns {stage: output model path, or {model: eval summary}}.
    The eval stage evaluates every model this run produced (mle, rl), else the starting model."""
    import platform_compat

    platform_compat.apply()
    from services.cluster import ray_session

    run = Run(cfg)
    outputs: dict = {}
    with ray_session():
        model_path = prepare_model(run)
        tokenizer = load_tokenizer(model_path)
        train = run.split("train", tokenizer)
        for stage in cfg.run.stages:
            t0 = time.perf_counter()
            if stage == "mle":
                model_path = outputs["mle"] = mle_stage(run, model_path, train)
            elif stage == "rl":
                model_path = outputs["rl"] = rl_stage(run, model_path, train, tokenizer)
            elif stage == "eval":
                models = {name: outputs[name] for name in ("mle", "rl") if name in outputs} or {Path(model_path).name: model_path}
                outputs["eval"] = evaluate(run, models, run.split(cfg.run.eval_split, tokenizer), tokenizer)
            print(f"stage {stage} done in {time.perf_counter() - t0:.1f} s")
    return outputs
