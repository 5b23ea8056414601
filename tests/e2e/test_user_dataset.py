"""A user's own data and verifier, with no change to the project: transitions in JSONL (train) and
Parquet (test) with fields named in the config, scored by a `module:function` verifier in the reward
workers; MLE -> RL -> eval on the real stack. The job is first stopped by `rlvr ctl stop` while an
early stage runs: it ends between stages (JobStopped), keeps what finished and never starts RL; the
same command then goes on."""

import json
import re
import threading
import time

import pytest

from rewards.types import RewardResult
from services.config import load_config
from services.controller import run_job
from services.ctl import NAMESPACE, JobStopped, control_name
from tests.conftest import ROOT


def score(prediction: str, reference: dict) -> RewardResult:
    """The user's verifier: the predicted counter must equal the next state's."""
    match = re.fullmatch(r"\s*counter (\d+)\s*", prediction)
    if match is None:
        return RewardResult(0.0, {"exact": 0.0}, "no_counter")
    right = float(int(match.group(1)) == reference["counter"])
    return RewardResult(right, {"exact": right})


def rows(start: int, count: int) -> list[dict]:
    out = []
    for i in range(start, start + count):
        action = ("inc", "dec", "noop")[i % 3]
        after = i + {"inc": 1, "dec": -1, "noop": 0}[action]
        out.append({"uid": f"c{i}", "observation": f"counter {i}, action {action} ->", "next_state": {"counter": after}, "target": f"counter {after}"})
    return out


def test_a_user_dataset_trains_with_a_user_verifier(ray_cluster, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows(0, 60)))
    pq.write_table(pa.Table.from_pylist(rows(100, 8)), tmp_path / "test.parquet")
    cfg = load_config(ROOT / "configs" / "tiny_text_game.yaml", [
        f"run.output_dir={tmp_path}", "run.name=mine", "run.stages=[mle,rl,eval]", "mle.epochs=2", "mle.batch_size=16",
        "rl.steps=3", "rl.prompts_per_step=4", "rollout.group_size=2", "rl.mini_batch_prompts=4", "learner.cpus=1",
        "rollout.sampling.max_new_tokens=8", "rollout.max_model_len=128", "world.name=dataset",
        f"world.dataset.train_path={tmp_path / 'train.jsonl'}", f"world.dataset.test_path={tmp_path / 'test.parquet'}",
        "world.dataset.prompt_field=observation", "world.dataset.reference_field=next_state", "world.dataset.answer_field=target",
        "world.dataset.id_field=uid", "rewards.verifier=tests.e2e.test_user_dataset:score",
    ])
    import ray

    def stop_when_the_job_is_up():
        for _ in range(600):  # bounded: the job's control actor appears within its start-up
            try:
                ray.get(ray.get_actor(control_name("mine"), namespace=NAMESPACE).request_stop.remote())
                return
            except ValueError:
                time.sleep(0.1)

    stopper = threading.Thread(target=stop_when_the_job_is_up)
    stopper.start()
    with pytest.raises(JobStopped, match="stopped by rlvr ctl before stage (mle|rl)"):
        run_job(cfg)
    stopper.join()
    metrics_file = tmp_path / "mine" / "metrics.jsonl"
    assert "rl" not in {json.loads(line)["stage"] for line in (metrics_file.read_text().splitlines() if metrics_file.exists() else [])}

    out = run_job(cfg)  # the same run goes on: the claim gives it a fresh control point
    metrics = [json.loads(line) for line in metrics_file.read_text().splitlines()]
    rl = [r for r in metrics if r["stage"] == "rl"]
    assert [r["step"] for r in rl] == [1, 2, 3]
    for r in rl:  # scored by the user's function in the reward workers: its metric is in the step record
        assert r["samples_scored"] == 8 and 0.0 <= r["reward_mean"] <= 1.0 and "exact" in r
    assert [r["mle_loss"] for r in metrics if r["stage"] == "mle"][-1] < [r["mle_loss"] for r in metrics if r["stage"] == "mle"][0]
    assert out["eval"]["rl"]["num_samples"] == out["eval"]["mle"]["num_samples"] == 8
    samples = json.loads((tmp_path / "mine" / "eval_rl.json").read_text())["samples"]
    assert sorted(s["id"] for s in samples) == [f"c{i}" for i in range(100, 108)]
