"""The RL stage: GRPO with the rollout and reward pools working beside the learner.

Read `rl_stage` top to bottom. Each step: take the step's scored batch from the rollout pipeline
(services/pipeline.py runs prompts -> rollout pool -> reward pool in the background) -> old and
reference log-probs, group advantages -> mini-batch GRPO updates -> publish the new weights to every
rollout worker (services/sync.py) -> checkpoint -> metrics. In sync mode the pipeline generates each
step with the weights of the step before (on-policy); in async mode it generates the next step while
the learner trains, at most `run.max_staleness` versions behind.
"""

from __future__ import annotations

import json
import time

from services.metrics import MetricsLogger
from services.run import Encoded, Run


def old_logprobs_source(cfg) -> str:
    """'rollout' or 'recompute'. auto: the rollout's sampled log-probs are the learner's exactly when
    both compute in float32 and sampling is not truncated (top-k / top-p renormalise what vLLM reports)."""
    if cfg.learner.old_logprobs != "auto":
        return cfg.learner.old_logprobs
    s = cfg.rollout.sampling
    exact = cfg.rollout.dtype == cfg.learner.dtype == "float32" and s.top_k == -1 and s.top_p == 1.0
    return "rollout" if exact else "recompute"


def add_training_targets(samples: list[dict], results: list, learner, cfg, old_source: str):
    """Old (and reference) log-probs and the group advantage of every sample; returns the rewards tensor."""
    import torch
    from torch.nn.utils.rnn import pad_sequence

    from learner.algorithms import ADVANTAGE_ESTIMATORS, kl_penalised_rewards

    alg = cfg.learner.algorithm
    olds = [s["rollout_logprobs"] for s in samples] if old_source == "rollout" else learner.logprobs(samples)
    for s, old in zip(samples, olds):
        s["old_logprobs"] = old
    if alg.kl_coef > 0:
        for s, ref in zip(samples, learner.logprobs(samples, reference=True)):
            s["ref_logprobs"] = ref
    reward = torch.tensor([r.reward for r in results])
    if alg.kl_in_reward and alg.kl_coef > 0:
        old, ref, mask = (
            pad_sequence([torch.tensor(row, dtype=torch.float32) for row in rows], batch_first=True)
            for rows in ([s["old_logprobs"] for s in samples], [s["ref_logprobs"] for s in samples], [s.get("loss_mask", [1.0] * len(s["response_ids"])) for s in samples])
        )
        reward = kl_penalised_rewards(reward, old, ref, mask, alg.kl_coef, alg.kl_estimator)
    advantages = ADVANTAGE_ESTIMATORS[alg.advantage_estimator](reward, torch.tensor([s["group"] for s in samples]))
    for s, a in zip(samples, advantages.tolist()):
        s["advantage"] = a
    return reward


def rl_stage(run: Run, model_path: str, data: list[Encoded], tokenizer) -> str:
    """GRPO for run.rl_steps steps (sync or async); checkpoints every `checkpoint_every` steps and resumes from the last."""
    from learner.batching import loss_tokens
    from learner.group import LearnerGroup
    from rewards.pool import RewardPool
    from rewards.registry import get_verifier
    from rollout.pool import RolloutPool
    from services.pipeline import RolloutPipeline
    from services.sync import WeightSync

    cfg = run.cfg
    staleness_bound = cfg.run.max_staleness if cfg.run.mode == "async" else 0
    old_source = old_logprobs_source(cfg)
    learner = LearnerGroup(model_path, cfg.learner, temperature=cfg.rollout.sampling.temperature)
    rollout = RolloutPool(model_path, cfg.rollout, seed=cfg.run.seed)
    rewards = RewardPool(cfg.rewards, run.verifier)
    on_gpu = cfg.learner.gpus_per_rank > 0 and cfg.rollout.gpus_per_worker > 0
    sync = WeightSync(learner, rollout, cfg.rollout.sync_transport, cfg.rollout.sync_bucket_mb, backend="nccl" if on_gpu else "gloo")
    summarize = get_verifier(run.verifier).summarize
    log = MetricsLogger(run.metrics_path, "rl")
    ckpt_dir, state_file = run.dir / "checkpoints", run.dir / "checkpoints" / "state.json"
    first_step = 1
    if state_file.exists():  # resume after a crash: weights, optimizer and the step counter
        state = json.loads(state_file.read_text())
        learner.load_checkpoint(str(ckpt_dir), state["tag"])
        sync.publish(state["step"])
        first_step = state["step"] + 1
        print(f"resumed from {ckpt_dir}/{state['tag']} at step {state['step']} (the first step after a resume is generated on-policy)")
    pipeline = RolloutPipeline(
        rollout, rewards, data, tokenizer, seed=cfg.run.seed, prompts_per_step=cfg.run.prompts_per_step,
        group_size=cfg.rollout.group_size, first_step=first_step, last_step=cfg.run.rl_steps, max_staleness=staleness_bound,
        unchanged_per_changed=run.rl_mix(),
    )
    try:
        for step in range(first_step, cfg.run.rl_steps + 1):
            t_step = time.perf_counter()
            batch = pipeline.next()  # generated and scored beside the learner; waits only for what did not overlap
            t_wait = time.perf_counter() - t_step

            t0 = time.perf_counter()
            reward = add_training_targets(batch.samples, batch.results, learner, cfg, old_source)
            train = learner.train_grpo(batch.samples, samples_per_minibatch=cfg.learner.mini_batch_prompts * cfg.rollout.group_size)
            t_train = time.perf_counter() - t0

            synced = sync.publish(step)  # waits for a generation in flight on the workers, then loads
            pipeline.published(step)

            if step % cfg.run.checkpoint_every == 0 or step == cfg.run.rl_steps:
                learner.save_checkpoint(str(ckpt_dir), f"step{step}")
                state_file.write_text(json.dumps({"step": step, "tag": f"step{step}"}))

            step_s = time.perf_counter() - t_step
            staleness = [step - 1 - s["version"] for s in batch.samples]
            changed = [e.example.meta["changed"] for e in batch.prompts if "changed" in e.example.meta]
            log.log(step, cfg.run.rl_steps, {
                **({"prompts_changed_share": sum(changed) / len(changed)} if changed else {}),
                **{k: v for k, v in summarize(batch.results).items() if isinstance(v, (int, float))}, **train,
                "reward_std": float(reward.std()) if len(reward) > 1 else 0.0,
                **batch.timings, "time/wait": t_wait, "time/train": t_train, **synced, "time/step": step_s,
                "throughput/tokens_per_s": sum(map(loss_tokens, batch.samples)) / step_s,
                "throughput/samples_per_s": len(batch.samples) / step_s,
                "staleness_mean": sum(staleness) / len(staleness), "staleness_max": max(staleness),
                "weights_version": step, "rollout_workers": len(rollout.workers),
                "reward_timeouts": rewards.timeouts, "reward_worker_restarts": rewards.restarts,
            })
        out = run.dir / "rl"
        learner.export_hf(str(out))
        return str(out)
    finally:
        pipeline.stop()
        for part in (rollout, rewards, learner):
            part.shutdown()
        pipeline.thread.join(timeout=60)
