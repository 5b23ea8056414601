"""An RL job on the real stack: 2 rollout workers (vLLM), 2 reward workers, 2 learner ranks (ZeRO-2)."""

import json

import pytest

from services.config import load_config
from services.controller import run_job
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
PHASES = ("time/generate", "time/reward", "time/train", "time/sync", "time/step")


def job(tmp_path, *overrides):
    return load_config(
        ROOT / "configs" / "tiny_text_game.yaml",
        [
            f"run.output_dir={tmp_path}", "run.name=e2e", "world.text_game.builtin_train_rows=64",
            "world.text_game.builtin_test_rows=8", "run.mle_epochs=0.5", "run.mle_batch_size=16",
            "run.prompts_per_step=4", "rollout.group_size=4", "learner.mini_batch_prompts=2",
            "rollout.num_workers=2", "rollout.cpus_per_worker=0.5", "rewards.num_workers=2",
            "learner.num_ranks=2", "learner.cpus_per_rank=1", "learner.zero_stage=2", "rollout.sampling.max_new_tokens=48",
            "rollout.sync_bucket_mb=0.1", *overrides,
        ],
    )


def records(run_dir, stage):
    return [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if r["stage"] == stage]


def test_rl_job_completes_syncs_every_worker_and_resumes(ray_cluster, tmp_path):
    out = run_job(job(tmp_path, "run.rl_steps=3", "run.checkpoint_every=2", "run.stages=[mle,rl,eval]"))
    run_dir = tmp_path / "e2e"
    rl = records(run_dir, "rl")
    assert [r["step"] for r in rl] == [1, 2, 3]
    for r in rl:
        assert all(r[p] > 0 for p in PHASES), r
        assert r["rollout_min_version"] == r["weights_version"] == r["step"]  # every worker on the newest weights
        assert {"reward_mean", "reward_std", "accuracy_overall", "kl", "clip_frac", "grad_norm"} <= set(r)
    assert (run_dir / "config.yaml").exists() and (run_dir / "checkpoints" / "step2").is_dir()
    assert out["eval"]["rl"]["num_samples"] == out["eval"]["mle"]["num_samples"] == 8  # both exported models served by vLLM and scored

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(out["rl"])
    tok = AutoTokenizer.from_pretrained(out["rl"])
    assert model.config.vocab_size >= len(tok)

    # a crash after step 3 resumes there: a longer run continues at step 4 from the checkpoint
    run_job(job(tmp_path, "run.rl_steps=4", "run.stages=[rl]", f"run.model={out['mle']}", "learner.algorithm.kl_in_reward=true"))
    assert [r["step"] for r in records(run_dir, "rl")] == [1, 2, 3, 4]
