"""`rlvr ctl stop` asked before the RL stage: the job ends between stages (JobStopped), keeps what
finished, and never starts RL; the same run then goes on."""

import json
import threading
import time

import pytest

from services.config import load_config
from services.controller import run_job
from services.ctl import NAMESPACE, JobStopped, control_name
from tests.conftest import ROOT



def test_stop_during_an_early_stage_ends_the_job_between_stages(ray_cluster, tmp_path):
    import ray

    cfg = load_config(ROOT / "configs" / "tiny_text_game.yaml", [
        f"run.output_dir={tmp_path}", "run.name=stopped", "run.stages=[mle,rl]", "mle.epochs=0.25", "rl.steps=2",
        "world.text_game.builtin_train_rows=32", "rl.prompts_per_step=2", "rollout.group_size=2", "rl.mini_batch_prompts=2",
        "rollout.sampling.max_new_tokens=16", "learner.cpus=1",
    ])

    def stop_when_the_job_is_up():
        for _ in range(600):  # bounded: the job's control actor appears within its start-up
            try:
                ray.get(ray.get_actor(control_name("stopped"), namespace=NAMESPACE).request_stop.remote())
                return
            except ValueError:
                time.sleep(0.1)

    stopper = threading.Thread(target=stop_when_the_job_is_up)
    stopper.start()
    with pytest.raises(JobStopped, match="stopped by rlvr ctl before stage (mle|rl)"):
        run_job(cfg)
    stopper.join()
    metrics = tmp_path / "stopped" / "metrics.jsonl"
    stages = {json.loads(line)["stage"] for line in metrics.read_text().splitlines()} if metrics.exists() else set()
    assert "rl" not in stages
    out = run_job(cfg)  # the same run goes on: the claim gives it a fresh control point
    assert set(out) == {"mle", "rl"}
