"""The video world on the real stack: interactive rollouts through vLLM, and a whole MLE -> RL -> eval job."""

import json
import math


from services.config import load_config
from services.controller import run_job
from tests.conftest import ROOT



def test_interactive_rollout_inserts_given_tokens_and_matches_the_learner(ray_cluster, tmp_path):
    from core.protocol import Plan, Prompt, Sample
    from learner.config import LearnerConfig
    from learner.group import LearnerGroup
    from learner.tiny import TinyModelConfig, build_token_model
    from rollout.config import RolloutConfig
    from rollout.pool import RolloutPool

    special = {"bos": 200, "eos": 201, "pad": 202}
    model = str(build_token_model(203, special, tmp_path / "m", TinyModelConfig(hidden_size=64, num_heads=2, num_layers=2, intermediate_size=128, max_positions=256)))
    # multi-step (3 frames, 2 given actions; the first sampled from ids [0, 100) only), and single-step beside it in the same call
    plans = [Plan(4, ((150,), (152,)), allowed=(0, 100)), Plan(4)]
    prompts = [Prompt([200, 5, 6, 7, 150], plans[0]), Prompt([200, 9, 8, 151], plans[1])]
    pool = RolloutPool(model, RolloutConfig(max_model_len=64, dtype="float32"))
    learner = LearnerGroup(model, LearnerConfig(algorithm={"kl_coef": 0.0}), lr=1e-6)
    try:
        groups = pool.generate(prompts, n=3)
        assert [len(g.responses) for g in groups] == [3, 3]
        for g, plan in zip(groups, plans):
            for r in g.responses:
                segments = len(plan.append) + 1
                assert len(r.ids) == len(r.mask) == len(r.logprobs) == 4 * segments + len(plan.append) and r.text is None
                for s, given in enumerate(plan.append):  # the given ids sit after each generated segment
                    assert r.ids[5 * s + 4] == given[0] and r.mask[5 * s + 4] == 0 and r.logprobs[5 * s + 4] == 0.0
                assert sum(r.mask) == 4 * segments
        assert all(t < 100 for r in groups[0].responses for t, m in zip(r.ids, r.mask) if m)
        samples = [s for i, (g, plan) in enumerate(zip(groups, plans)) for s in Sample.from_group(g, i, plan.allowed)]
        recomputed = learner.logprobs(samples)
        diffs = [abs(a - b) for s, re in zip(samples, recomputed) for a, b, m in zip(re, s.rollout_logprobs, s.loss_mask) if m]
        assert max(diffs) < 1e-3, max(diffs)  # vLLM sampled exactly what the learner scores, restricted range included
    finally:
        pool.shutdown()
        learner.shutdown()


def test_video_job_tokenizer_mle_rl_eval(ray_cluster, tmp_path):
    cfg = load_config(ROOT / "configs" / "tiny_video.yaml", [
        f"run.output_dir={tmp_path}", "run.name=video", "world.video.pusht_episodes=10", "world.video.pusht_steps=8",
        "world.video.test_episodes=2", "world.video.tokenizer_steps=20", "world.video.context_frames=1", "world.video.horizon=2",
        "mle.epochs=12", "mle.batch_size=16", "rl.steps=2", "rl.prompts_per_step=4", "rollout.group_size=4",
        "rl.mini_batch_prompts=2", "eval.max_examples=6", "rewards.count=2", "run.tiny.num_layers=2",
        "eval.modes=[greedy,sampled]", "eval.best_of=[1,3]", "learner.algorithm.advantage_estimator=scst",
    ])
    out = run_job(cfg)
    run_dir = tmp_path / "video"
    rl = [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if r["stage"] == "rl"]
    assert [r["step"] for r in rl] == [1, 2]
    for r in rl:
        assert r["rollout_min_version"] == r["step"] and r["reward_mean"] < 0 and {"lpips", "psnr", "repetition_rate", "invalid_rate"} <= set(r)
        assert {"greedy/lpips", "greedy/repetition_rate"} <= set(r)  # scst: a greedy answer per prompt (multi-step plans included)
    assert set(out["eval"]) == {"mle", "rl", "mle@sampled", "rl@sampled"}
    for summary in out["eval"].values():
        assert summary["num_samples"] == 6
        assert {"mse", "psnr", "ssim", "lpips", "repetition_rate", "invalid_rate"} <= set(summary)
    paired = json.loads((run_dir / "paired.json").read_text())  # rl against mle example by example, in each mode
    assert set(paired) == {"rl vs mle", "rl@sampled vs mle@sampled"} and set(paired["rl vs mle"]) == {"lpips", "psnr", "repeated"}
    assert all(c["all"]["examples"] == 6 for by_metric in paired.values() for c in by_metric.values())
    assert (run_dir / "strips.png").stat().st_size > 0 and "truth | mle | rl | mle@sampled" in (run_dir / "strips.txt").read_text()
    best_of = json.loads((run_dir / "best_of.json").read_text())  # the best of 3 samples by -(L1 + LPIPS), per model
    assert all(c["3"]["reward_mean"] >= c["1"]["reward_mean"] and "lpips_x100" in c["3"] for c in best_of.values())
    report = json.loads((run_dir / "frame_tokenizer" / "report.json").read_text())
    assert report["test_psnr"] > 0
    # the exported world model is a Llama over frame / action / special tokens, with no text tokenizer
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(out["rl"])
    codes = math.prod(cfg.world.video.tokenizer.levels)
    assert config.model_type == "llama" and config.vocab_size == codes + 2 * 256 + 3  # PushT actions are 2-d
    assert not (run_dir / "rl" / "tokenizer_config.json").exists()
