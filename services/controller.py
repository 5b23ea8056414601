"""The controller: runs the job's stages in order (mle, rl, eval), each in its own module:
services/mle.py, services/rl.py (the RL loop), services/evaluation.py.

A finished stage is recorded in the run directory (stages.json, with its output); a rerun of the same
run skips the stages that finished (their outputs still exist; RL: for at least rl.steps steps)
and resumes the one that did not (the RL stage from its newest checkpoint, so a rerun with more
rl.steps trains on; MLE and eval start over). A new run.name starts a run afresh.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from services.checkpoints import write_atomically
from services.config import JobConfig
from services.ctl import JobStopped, start_control, wanted
from services.evaluation import evaluate
from services.mle import mle_stage
from services.resources import check as check_resources
from services.rl import rl_stage
from services.run import Pools, Run, load_tokenizer, prepare_model


def run_job(cfg: JobConfig) -> dict:
    """Run the configured stages in order; returns {stage: output model path, or {model: eval summary}}.
    The eval stage evaluates every model this job produced (mle, rl); run alone (`rlvr eval`), those an
    earlier job of the run produced; else the starting model."""
    import platform_compat

    platform_compat.apply()
    from core.actors import worker_logs_in
    from core.cluster import ray_session

    configure_logging()
    run = Run(cfg)
    with ray_session(dashboard=cfg.run.dashboard) as session, worker_logs_in(run.dir.resolve() / "logs", cfg.run.worker_logs == "file"):
        print(session.banner(), flush=True)
        if cfg.run.worker_logs == "file":
            print(f"worker output (vLLM, DeepSpeed): {run.dir / 'logs'}/<actor>.log (run.worker_logs=console shows it here)", flush=True)
        if cfg.run.check_resources:
            check_resources(cfg)
        run.control = start_control(cfg)  # `rlvr ctl status|scale|stop` from here on
        pools = Pools(run)  # the rollout and reward pools and the learner group, started by the first stage that needs them, kept to the end
        try:
            return run_stages(run, pools)
        finally:
            pools.close()


def run_stages(run: Run, pools: Pools) -> dict:
    """The stages not finished yet, in order (see the module's docstring); returns their outputs."""
    cfg, state_file = run.cfg, run.dir / "stages.json"
    finished = json.loads(state_file.read_text()) if state_file.exists() else {}
    outputs: dict = {}
    model_path = prepare_model(run)
    tokenizer = load_tokenizer(model_path)
    train = run.split("train", tokenizer)
    for stage in cfg.run.stages:
        done = finished.get(stage)
        if done and Path(done["output"], "config.json").exists() and done.get("rl_steps", 0) >= (cfg.rl.steps if stage == "rl" else 0):
            model_path = outputs[stage] = done["output"]
            print(f"stage {stage} already done ({model_path}): skipped")
            continue
        if wanted(run.control)[1]:  # `rlvr ctl stop` during an earlier stage: stop between stages
            raise JobStopped(f"stopped by rlvr ctl before stage {stage} (finished stages are kept): rerun the same command to go on")
        t0 = time.perf_counter()
        run.control.report.remote({"stage": stage})
        if stage == "mle":
            model_path = outputs["mle"] = mle_stage(run, model_path, train, pools)
        elif stage == "rl":
            model_path = outputs["rl"] = rl_stage(run, model_path, train, pools)
        elif stage == "eval":
            models = {name: outputs[name] for name in ("mle", "rl") if name in outputs}
            if not models and cfg.run.stages == ["eval"]:  # `rlvr eval`: the models earlier jobs of this run produced
                models = {name: finished[name]["output"] for name in ("mle", "rl") if name in finished and Path(finished[name]["output"], "config.json").exists()}
            models = models or {Path(model_path).name: model_path}
            outputs["eval"] = evaluate(run, models, run.split(cfg.eval.split, tokenizer), pools)
        if stage in ("mle", "rl"):
            finished[stage] = {"output": outputs[stage], **({"rl_steps": cfg.rl.steps} if stage == "rl" else {})}
            write_atomically(state_file, json.dumps(finished))
        print(f"stage {stage} done in {time.perf_counter() - t0:.1f} s")
    return outputs


def configure_logging() -> None:
    """The job's diagnostics (worker replaced, resumed from a checkpoint, ...) on stderr, one line each."""
    import logging

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for package in PACKAGES:
        logging.getLogger(package).setLevel(logging.INFO)


PACKAGES = ("core", "services", "rollout", "learner", "rewards", "worlds")
