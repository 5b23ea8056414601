"""The RL stage: GRPO with the rollout and reward pools working beside the learner.

Read `RLLoop.run` top to bottom. Each step: take the step's scored batch from the rollout pipeline
(services/pipeline.py runs prompts -> rollout pool -> reward pool in the background) -> group
advantages -> mini-batch GRPO updates on the learner ranks (which compute the old and reference
log-probs themselves) -> the pool sizes asked for with `rlvr ctl scale` -> publish the new weights
to every rollout worker (services/sync.py), checked now and then by the post-sync probe -> checkpoint
-> metrics. In sync mode the pipeline generates each step with the weights of the step before
(on-policy); in async mode it generates the next step while the learner trains, at most
`rl.max_staleness` versions behind. The outer loop runs once, plus once more each time the learner
group fails: it is then re-created from the newest checkpoint.

The loop's parts (RLParts) are injected: `rl_stage` builds the real ones; tests drive the loop with
fakes (tests/services/test_rl_loop.py).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from learner.algorithms import ADVANTAGE_ESTIMATORS, NEEDS_GREEDY, kl_penalised_rewards
from learner.group import LearnerFailure
from services.config import JobConfig
from services.ctl import JobStopped
from services.pipeline import ScoredBatch
from services.run import Encoded, Pools, Run

log = logging.getLogger(__name__)
STOP_WAIT_S = 600.0  # how long a stopping rollout side may take to finish the call it is in
PROBE_SAMPLES = 4  # sequences in the post-sync check's probe


def old_logprobs_source(cfg: JobConfig) -> str:
    """'rollout' or 'recompute'. auto: the rollout's sampled log-probs are the learner's exactly when
    both compute in float32 and sampling is not truncated (top-k / top-p renormalise what vLLM reports)."""
    if cfg.learner.old_logprobs != "auto":
        return cfg.learner.old_logprobs
    s = cfg.rollout.sampling
    exact = cfg.rollout.dtype == cfg.learner.dtype == "float32" and s.top_k == -1 and s.top_p == 1.0
    return "rollout" if exact else "recompute"


def sync_tolerance(cfg: JobConfig) -> float:
    if cfg.rollout.verify_sync_tolerance is not None:
        return cfg.rollout.verify_sync_tolerance
    return 1e-3 if cfg.rollout.dtype == cfg.learner.dtype == "float32" else 5e-2


def advantages_of(batch: ScoredBatch, cfg: JobConfig, kl: list[float] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(the rewards the estimator saw, one advantage per sample): the verifier's rewards (minus
    kl_coef x each sample's KL when the KL is in the reward), normalised per group by the configured
    estimator (an estimator in NEEDS_GREEDY gets each prompt's greedy reward)."""
    alg = cfg.learner.algorithm
    reward = torch.tensor([r.reward for r in batch.results], dtype=torch.float32)
    if kl is not None:
        reward = kl_penalised_rewards(reward, torch.tensor(kl, dtype=torch.float32), alg.kl_coef)
    groups = torch.tensor([s.group for s in batch.samples])
    baseline = {"greedy": torch.tensor([batch.greedy[s.group].reward for s in batch.samples])} if alg.advantage_estimator in NEEDS_GREEDY else {}
    return reward, ADVANTAGE_ESTIMATORS[alg.advantage_estimator](reward, groups, **baseline)


@dataclass
class RLParts:
    """What the RL loop drives. `rl_stage` builds the real ones (Ray actors); tests give fakes."""

    rollout: Any  # RolloutPool: its workers, fault counters
    rewards: Any  # RewardPool: fault counters
    new_learner: Callable[[], Any]  # a LearnerGroup from the stage's start model (the job's, reloaded, or a new one)
    new_sync: Callable[[Any], Any]  # WeightSync between a learner group and the rollout pool
    new_pipeline: Callable[[int], Any]  # RolloutPipeline generating from a first step on
    between_steps: Callable[[int], tuple[bool, dict]]  # step -> (stop asked, pool metrics): `rlvr ctl` sizes and stop
    checkpoints: Any  # Checkpoints
    log: Any  # MetricsLogger
    summarize: Callable[[list], dict]  # the verifier's summary of a step's results


class RLLoop:
    def __init__(self, cfg: JobConfig, parts: RLParts):
        self.cfg, self.parts = cfg, parts
        self.learner = None
        self.learner_restarts = 0
        self.probe = None  # the post-sync check's fixed sequences (from the first step trained)
        self.checked_workers: list = []  # the rollout workers the last post-sync check saw

    def run(self):
        """GRPO for rl.steps steps; returns the learner group holding the final weights."""
        cfg, p = self.cfg, self.parts
        while True:  # one pass per learner group: the first, and one after each learner failure
            first = self.start_learner()
            pipeline = p.new_pipeline(first)
            try:
                for step in range(first, cfg.rl.steps + 1):
                    t = {"start": time.perf_counter()}
                    batch = pipeline.next()  # generated and scored beside the learner; waits only for what did not overlap
                    t["wait"] = time.perf_counter()
                    reward, train = self.train(batch)
                    t["train"] = time.perf_counter()
                    stop, pools = p.between_steps(step)  # `rlvr ctl scale`: joiners that are up serve from here
                    t["pools"] = time.perf_counter()
                    synced = {**self.sync.publish(step), **self.check_sync(step, batch)}  # waits for a generation in flight on the workers
                    pipeline.published(step)
                    if step % cfg.rl.checkpoint_every == 0 or step == cfg.rl.steps or stop:
                        p.checkpoints.save(self.learner, step)
                    t["end"] = time.perf_counter()
                    p.log.log(step, cfg.rl.steps, self.step_metrics(step, batch, reward, train, synced, pools, t))
                    if stop:
                        raise JobStopped(f"stopped by rlvr ctl after step {step} of {cfg.rl.steps}, checkpoint saved "
                                         f"({p.checkpoints.dir}/step{step}): rerun the same command to resume")
                return self.learner
            except LearnerFailure as err:
                self.restart_after(err)
            finally:
                pipeline.stop(wait_s=STOP_WAIT_S)

    def start_learner(self) -> int:
        """A learner group from the newest checkpoint (or the start model), the rollout workers serving
        its weights; returns the first step to do. Steps logged after the checkpoint are done again."""
        p = self.parts
        self.learner = p.new_learner()
        self.sync = p.new_sync(self.learner)
        resumed = p.checkpoints.load(self.learner)  # 0: no checkpoint yet, start from the start model
        self.redone = set(p.log.discard_after(resumed))
        if resumed or self.learner_restarts:
            self.sync.publish(resumed)  # the rollout workers serve the restored weights
            self.checked_workers = []  # check the next sync
            log.warning("resumed from %s/step%d at step %d", p.checkpoints.dir, resumed, resumed) if resumed else log.warning("restarted from the RL start model")
        return resumed + 1

    def restart_after(self, err: LearnerFailure) -> None:
        """The learner-restart policy: re-create the group from the newest checkpoint, at most rl.max_learner_restarts times."""
        self.learner_restarts += 1
        if self.learner_restarts > self.cfg.rl.max_learner_restarts:
            raise err
        log.warning("%s: restarting it from the newest checkpoint (%d of at most %d restarts)", err, self.learner_restarts, self.cfg.rl.max_learner_restarts)

    def train(self, batch: ScoredBatch) -> tuple[torch.Tensor, dict]:
        """Advantages (the KL from the ranks first, when it is in the reward), then one epoch of updates."""
        cfg = self.cfg
        staged = self.learner.stage(batch.samples, cfg.rl.mini_batch_prompts * cfg.rollout.group_size)
        alg = cfg.learner.algorithm
        kl = self.learner.sequence_kl(staged) if alg.kl_in_reward and alg.kl_coef > 0 else None
        reward, advantages = advantages_of(batch, cfg, kl)
        return reward, self.learner.train_grpo(staged, advantages.tolist())

    def check_sync(self, step: int, batch: ScoredBatch) -> dict:
        """The post-sync probe, when due: every rollout.verify_sync_every steps, and after a learner
        restart or a change of the rollout pool's members."""
        every = self.cfg.rollout.verify_sync_every
        if every == 0:
            return {}
        if self.probe is None:
            self.probe = batch.samples[:PROBE_SAMPLES]
        workers = list(self.parts.rollout.workers)
        if step % every and workers == self.checked_workers:
            return {}
        self.checked_workers = workers
        return self.sync.verify(step, self.probe, sync_tolerance(self.cfg))

    def step_metrics(self, step: int, batch: ScoredBatch, reward: torch.Tensor, train: dict, synced: dict, pools: dict, t: dict) -> dict:
        """One step's record: the verifier's summary, the learner's metrics, phase times, throughput, staleness, faults."""
        step_s = t["end"] - t["start"]
        staleness = [step - 1 - s.version for s in batch.samples]
        changed = [e.example.meta["changed"] for e in batch.prompts if "changed" in e.example.meta]
        numbers = lambda summary: {k: v for k, v in summary.items() if isinstance(v, (int, float))}  # noqa: E731
        r, w = self.parts.rollout, self.parts.rewards
        return {
            **({"prompts_changed_share": sum(changed) / len(changed)} if changed else {}),
            **numbers(self.parts.summarize(batch.results)), **train,
            **({f"greedy/{k}": v for k, v in numbers(self.parts.summarize(batch.greedy)).items()} if batch.greedy else {}),
            "reward_std": float(reward.std()) if len(reward) > 1 else 0.0,
            **batch.timings, "time/wait": t["wait"] - t["start"], "time/train": t["train"] - t["wait"], **synced, "time/step": step_s,
            "throughput/tokens_per_s": sum(s.trained_tokens for s in batch.samples) / step_s,
            "throughput/samples_per_s": len(batch.samples) / step_s,
            "staleness_mean": sum(staleness) / len(staleness), "staleness_max": max(staleness),
            "weights_version": step, **pools, "time/pools": t["pools"] - t["train"],
            "prompts": len(batch.prompts), "samples_scored": len(batch.results), "prompts_digest": digest(batch.prompts),
            **({"redone": 1} if step in self.redone else {}),
            "learner_restarts": self.learner_restarts, "rollout_restarts": r.restarts, "rollout_retried_prompts": r.retried,
            "reward_worker_restarts": w.restarts, "reward_retried": w.retried, "reward_timeouts": w.timeouts,
            "reward_batch_failures": w.batch_failures, "reward_given_up": w.given_up,
        }


def rl_stage(run: Run, model_path: str, data: list[Encoded], pools: Pools) -> str:
    """GRPO for rl.steps steps (sync or async) from `model_path` on the job's pools; exports the
    final model to <run dir>/rl and returns its path (the rollout workers hold its weights afterwards).
    Checkpoints every `rl.checkpoint_every` steps; a rerun resumes after the newest usable one. Rollout and
    reward workers that die or hang are replaced inside their pools (core/dispatch.py). Between steps
    the pools take the sizes asked for with `rlvr ctl scale`, and `rlvr ctl stop` ends the stage
    after a step with a checkpoint (services/ctl.py)."""
    from rewards.registry import get_verifier
    from services.checkpoints import Checkpoints
    from services.ctl import apply_sizes, start_control
    from services.metrics import MetricsLogger
    from services.pipeline import RolloutPipeline
    from services.sync import WeightSync

    cfg = run.cfg
    control = run.control or start_control(cfg)  # the controller starts it with the job, so `rlvr ctl` works from the first stage
    on_gpu = cfg.learner.gpus > 0 and cfg.rollout.gpus > 0
    alg = cfg.learner.algorithm
    metrics_log = MetricsLogger(run.metrics_path, "rl")
    try:
        rollout, rewards = pools.rollout(model_path), pools.rewards()
        pools.serving = None  # trained in place from here
        parts = RLParts(
            rollout=rollout, rewards=rewards,
            new_learner=lambda: pools.learner(model_path, cfg.learner, cfg.rl.lr, cfg.rollout.sampling.temperature, old_logprobs_source(cfg)),
            new_sync=lambda learner: WeightSync(learner, rollout, cfg.rollout.sync_transport, cfg.rollout.sync_bucket_mb,
                                                backend="nccl" if on_gpu else "gloo", timeout_s=cfg.learner.timeout_s),
            new_pipeline=lambda first: RolloutPipeline(
                rollout, rewards, data, seed=cfg.run.seed, prompts_per_step=cfg.rl.prompts_per_step, group_size=cfg.rollout.group_size,
                first_step=first, last_step=cfg.rl.steps, max_staleness=cfg.rl.max_staleness if cfg.rl.mode == "async" else 0,
                unchanged_per_changed=run.rl_mix(), greedy_baseline=alg.advantage_estimator in NEEDS_GREEDY,
                greedy_sampling=cfg.rollout.sampling.model_copy(update={"temperature": 0.0}),
            ),
            between_steps=lambda step: apply_sizes(control, rollout, rewards, step, cfg.rl.steps),
            checkpoints=Checkpoints(run.dir / "checkpoints", cfg.rl.keep_checkpoints),
            log=metrics_log,
            summarize=get_verifier(run.verifier).summarize,
        )
        learner = RLLoop(cfg, parts).run()
        out = run.dir / "rl"
        learner.export_hf(str(out))
        rollout.hold_folder(str(out))
        pools.serving = str(out)  # the workers hold the final weights: evaluation reuses them
        return str(out)
    finally:
        metrics_log.close()


def digest(prompts: list[Encoded]) -> str:
    """A short fingerprint of a step's prompts (their ids in order), to compare runs and resumes."""
    return hashlib.sha1("\n".join(e.example.id for e in prompts).encode()).hexdigest()[:12]
