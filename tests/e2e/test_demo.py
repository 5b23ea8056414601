"""The demo's orchestration (MLE -> RLVR vs equal-time MLE control -> side-by-side eval) on a few steps,
on 2 rollout workers (vLLM), 2 reward workers and 2 learner ranks (ZeRO-2) in sync mode: old log-probs
from the rollout, object-store sync in several buckets, every worker on the newest weights each step.
The full-size demo (`make demo`) is a benchmark of ~15 minutes; this checks that every part runs."""

import json

import pytest

from services.demo import main
from tests.conftest import ROOT

PHASES = ("time/generate", "time/reward", "time/train", "time/sync", "time/step")


def test_demo_runs_end_to_end(ray_cluster, tmp_path, capsys):
    rc = main([
        "--config", str(ROOT / "configs" / "tiny_text_game.yaml"),
        f"run.output_dir={tmp_path}", "run.name=demo", "world.text_game.builtin_train_rows=48",
        "world.text_game.builtin_test_rows=8", "mle.epochs=0.7", "mle.batch_size=16", "rl.steps=2",
        "rl.prompts_per_step=4", "rollout.group_size=4", "rl.mini_batch_prompts=4",
        "rollout.sampling.max_new_tokens=32", "run.tiny.vocab_size=512", "run.tiny.hidden_size=64",
        "run.tiny.num_layers=2", "run.tiny.num_heads=2", "eval.best_of=[1,2]", "mle.lr_schedule=cosine",
        "rollout.count=2", "rollout.cpus=0.5", "rollout.threads=1", "rewards.count=2", "learner.count=2", "learner.cpus=1",
        "learner.zero_stage=2", "rollout.sync_bucket_mb=0.1", "rl.checkpoint_every=1",
    ])
    assert rc == 0
    out = capsys.readouterr().out
    assert "mle_control" in out and "RL reward curve" in out
    summary = json.loads((tmp_path / "demo" / "demo_summary.json").read_text())
    assert set(summary["results"]) == {"mle", "mle_control", "rl"}
    assert all(r["num_samples"] == 8 for r in summary["results"].values())
    assert [s for s, _ in summary["reward_curve"]] == [1, 2]
    run_dir = tmp_path / "demo"
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for r in (r for r in rows if r["stage"] == "rl"):
        assert all(r[p] > 0 for p in PHASES), r
        assert r["rollout_min_version"] == r["weights_version"] == r["step"] and r["rollout_workers"] == 2  # every worker on the newest weights
        assert r["staleness_max"] == 0 and r["samples_scored"] == 16  # sync mode is on-policy; every sample scored
        assert {"reward_mean", "reward_std", "accuracy_overall", "kl", "clip_frac", "grad_norm"} <= set(r)
    assert (run_dir / "config.yaml").exists() and (run_dir / "checkpoints" / "step2").is_dir()
    assert set(summary["best_of"]) == {"mle", "rl"} and "best of N" in out
    assert summary["timings_s"]["mle_control"] > 0
    assert set(summary["paired"]) == {"rl vs mle", "rl vs mle_control"} and "exact_match rl vs mle_control: all +" in out
    assert summary["paired"]["rl vs mle"]["exact_match"]["all"]["examples"] == 8  # every held-out example, paired by id
    samples = json.loads((tmp_path / "demo" / "eval_rl.json").read_text())["samples"]
    assert all(isinstance(s["prediction"], str) for s in samples)  # each prediction saved beside its score
    lrs = {stage: [r["lr"] for r in rows if r["stage"] == stage] for stage in ("mle", "mle_control")}
    assert lrs["mle"] == pytest.approx([3e-3, 3e-4])  # cosine over the stage's 2 updates (48 rows x 0.7 / 16)
    assert lrs["mle_control"] == pytest.approx([3e-4] * len(lrs["mle_control"])) and lrs["mle_control"]  # the control continues at the final lr
    assert (run_dir / "best_of.png").stat().st_size > 0

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tok = AutoModelForCausalLM.from_pretrained(run_dir / "rl"), AutoTokenizer.from_pretrained(run_dir / "rl")  # a plain HF export
    assert model.config.vocab_size >= len(tok)
