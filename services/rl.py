"""The RL stage: GRPO with the rollout and reward pools working beside the learner.

Read `rl_stage` top to bottom. Each step: take the step's scored batch from the rollout pipeline
(services/pipeline.py runs prompts -> rollout pool -> reward pool in the background) -> old and
reference log-probs, group advantages -> mini-batch GRPO updates -> the pool sizes asked for with
`services.ctl scale` -> publish the new weights to every rollout worker (services/sync.py) ->
checkpoint -> metrics. In sync mode the pipeline generates each step with the weights of the step
before (on-policy); in async mode it generates the next step while the learner trains, at most
`run.max_staleness` versions behind. The outer loop runs once, plus once
more each time a learner rank dies: the group is then re-created from the newest checkpoint.
"""

from __future__ import annotations

import hashlib
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


def add_training_targets(samples: list[dict], results: list, learner, cfg, old_source: str, greedy: list | None = None):
    """Old (and reference) log-probs and the group advantage of every sample (an estimator in
    NEEDS_GREEDY gets each prompt's greedy reward from `greedy`); returns the rewards tensor."""
    import torch
    from torch.nn.utils.rnn import pad_sequence

    from learner.algorithms import ADVANTAGE_ESTIMATORS, NEEDS_GREEDY, kl_penalised_rewards

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
    baseline = {"greedy": torch.tensor([greedy[s["group"]].reward for s in samples])} if alg.advantage_estimator in NEEDS_GREEDY else {}
    advantages = ADVANTAGE_ESTIMATORS[alg.advantage_estimator](reward, torch.tensor([s["group"] for s in samples]), **baseline)
    for s, a in zip(samples, advantages.tolist()):
        s["advantage"] = a
    return reward


def rl_stage(run: Run, model_path: str, data: list[Encoded], tokenizer) -> str:
    """GRPO for run.rl_steps steps (sync or async). Checkpoints every `checkpoint_every` steps; a rerun
    resumes after the newest usable one, and a learner rank that dies brings the learner group back
    from it (the steps since are done again, marked `redone` in the metrics). Rollout and reward
    workers that die or hang are replaced inside their pools (rollout/pool.py, rewards/pool.py).
    Between steps the pools take the sizes asked for with `services.ctl scale`, and `services.ctl
    stop` ends the stage after a step with a checkpoint (services/ctl.py)."""
    from learner.algorithms import NEEDS_GREEDY
    from learner.batching import loss_tokens
    from learner.group import LearnerFailure, LearnerGroup
    from rewards.pool import RewardPool
    from rewards.registry import get_verifier
    from rollout.pool import RolloutPool
    from services.checkpoints import Checkpoints
    from services.ctl import JobStopped, apply_sizes, start_control
    from services.pipeline import RolloutPipeline
    from services.sync import WeightSync

    cfg = run.cfg
    staleness_bound = cfg.run.max_staleness if cfg.run.mode == "async" else 0
    old_source = old_logprobs_source(cfg)
    rollout = RolloutPool(model_path, cfg.rollout, seed=cfg.run.seed)
    rewards = RewardPool(cfg.rewards, run.verifier)
    on_gpu = cfg.learner.gpus_per_rank > 0 and cfg.rollout.gpus_per_worker > 0
    summarize = get_verifier(run.verifier).summarize
    log = MetricsLogger(run.metrics_path, "rl")
    checkpoints = Checkpoints(run.dir / "checkpoints", cfg.run.keep_checkpoints)
    control = run.control or start_control(cfg)  # the controller starts it with the job, so `services.ctl` works from the first stage
    learner = None
    learner_restarts = 0
    try:
        while True:  # one pass per learner group: the first, and one after each learner failure
            learner = LearnerGroup(model_path, cfg.learner, temperature=cfg.rollout.sampling.temperature)
            sync = WeightSync(learner, rollout, cfg.rollout.sync_transport, cfg.rollout.sync_bucket_mb, backend="nccl" if on_gpu else "gloo")
            resumed = checkpoints.load(learner)  # 0: no checkpoint yet, start from model_path
            redone = set(log.discard_after(resumed))  # steps logged after the checkpoint are done again
            if resumed or learner_restarts:
                sync.publish(resumed)  # the rollout workers serve the restored weights
                print(f"resumed from {checkpoints.dir}/step{resumed} at step {resumed}" if resumed else "restarted from the RL start model")
            pipeline = RolloutPipeline(
                rollout, rewards, data, tokenizer, seed=cfg.run.seed, prompts_per_step=cfg.run.prompts_per_step,
                group_size=cfg.rollout.group_size, first_step=resumed + 1, last_step=cfg.run.rl_steps, max_staleness=staleness_bound,
                unchanged_per_changed=run.rl_mix(), greedy_baseline=cfg.learner.algorithm.advantage_estimator in NEEDS_GREEDY,
            )
            try:
                for step in range(resumed + 1, cfg.run.rl_steps + 1):
                    t_step = time.perf_counter()
                    batch = pipeline.next()  # generated and scored beside the learner; waits only for what did not overlap
                    t_wait = time.perf_counter() - t_step

                    t0 = time.perf_counter()
                    reward = add_training_targets(batch.samples, batch.results, learner, cfg, old_source, batch.greedy)
                    train = learner.train_grpo(batch.samples, samples_per_minibatch=cfg.learner.mini_batch_prompts * cfg.rollout.group_size)
                    t_train = time.perf_counter() - t0

                    t0 = time.perf_counter()
                    stop, pools = apply_sizes(control, rollout, rewards, step, cfg.run.rl_steps)  # `services.ctl scale`: joiners that are up serve from here
                    t_pools = time.perf_counter() - t0
                    synced = sync.publish(step)  # waits for a generation in flight on the workers, then loads
                    pipeline.published(step)

                    if step % cfg.run.checkpoint_every == 0 or step == cfg.run.rl_steps or stop:
                        checkpoints.save(learner, step)

                    step_s = time.perf_counter() - t_step
                    staleness = [step - 1 - s["version"] for s in batch.samples]
                    changed = [e.example.meta["changed"] for e in batch.prompts if "changed" in e.example.meta]
                    log.log(step, cfg.run.rl_steps, {
                        **({"prompts_changed_share": sum(changed) / len(changed)} if changed else {}),
                        **{k: v for k, v in summarize(batch.results).items() if isinstance(v, (int, float))}, **train,
                        **({f"greedy/{k}": v for k, v in summarize(batch.greedy).items() if isinstance(v, (int, float))} if batch.greedy else {}),
                        "reward_std": float(reward.std()) if len(reward) > 1 else 0.0,
                        **batch.timings, "time/wait": t_wait, "time/train": t_train, **synced, "time/step": step_s,
                        "throughput/tokens_per_s": sum(map(loss_tokens, batch.samples)) / step_s,
                        "throughput/samples_per_s": len(batch.samples) / step_s,
                        "staleness_mean": sum(staleness) / len(staleness), "staleness_max": max(staleness),
                        "weights_version": step, **pools, "time/pools": t_pools,
                        "prompts": len(batch.prompts), "samples_scored": len(batch.results), "prompts_digest": digest(batch.prompts),
                        **({"redone": 1} if step in redone else {}), **fault_counters(rollout, rewards, learner_restarts),
                    })
                    if stop:
                        raise JobStopped(f"stopped by services.ctl after step {step} of {cfg.run.rl_steps}, checkpoint saved "
                                         f"({checkpoints.dir}/step{step}): rerun the same command to resume")
                break
            except LearnerFailure as err:
                learner_restarts += 1
                if learner_restarts > cfg.run.max_learner_restarts:
                    raise
                print(f"{err}: restarting it from the newest checkpoint ({learner_restarts} of at most {cfg.run.max_learner_restarts} restarts)", flush=True)
            finally:
                pipeline.stop(wait_s=STOP_WAIT_S)
        out = run.dir / "rl"
        learner.export_hf(str(out))
        return str(out)
    finally:
        for part in (rollout, rewards, learner):
            if part is not None:
                part.shutdown()
        log.close()


STOP_WAIT_S = 600.0  # how long a stopping rollout side may take to finish the call it is in


def fault_counters(rollout, rewards, learner_restarts: int) -> dict[str, int]:
    """What the run survived so far (cumulative): replaced workers, work done again, floored samples."""
    return {
        "learner_restarts": learner_restarts, "rollout_restarts": rollout.restarts, "rollout_retried_prompts": rollout.retried_prompts,
        "reward_worker_restarts": rewards.restarts, "reward_retried": rewards.retried, "reward_timeouts": rewards.timeouts,
    }


def digest(prompts: list[Encoded]) -> str:
    """A short fingerprint of a step's prompts (their ids in order), to compare runs and resumes."""
    return hashlib.sha1("\n".join(e.example.id for e in prompts).encode()).hexdigest()[:12]
