"""The RL loop's logic with fake parts (the real stack runs it in tests/e2e/test_rl_job.py and test_faults.py):
resume from a checkpoint, redone steps, a learner restart and its bound, stop, the post-sync check's
schedule, advantages handed to the learner, and the keys of a step's record."""

from types import SimpleNamespace

import pytest

from core.protocol import Sample
from learner.group import LearnerFailure
from rewards.registry import mean_summary
from rewards.types import RewardResult
from services.config import load_config
from services.ctl import JobStopped
from services.pipeline import ScoredBatch
from services.rl import RLLoop, RLParts, advantages_of
from services.run import Encoded
from worlds.registry import Example

G = 2
PROMPTS = [Encoded(Example(id=f"p{i}", prompt="", reference=None, answer=""), [1, i], [2]) for i in range(2)]


def batch(step: int) -> ScoredBatch:
    samples = [Sample([1, i], [5, 6], rollout_logprobs=[-1.0, -1.0], group=i, version=step - 1) for i in range(2) for _ in range(G)]
    results = [RewardResult(float(j % 2)) for j in range(len(samples))]  # one right, one wrong per group
    return ScoredBatch(step, PROMPTS, samples, results, {"time/generate": 0.1, "time/reward": 0.01})


class Learner:
    def __init__(self, world, fail_at=None):
        self.world, self.fail_at = world, fail_at

    def stage(self, samples, per_minibatch):
        return samples

    def train_grpo(self, staged, advantages):
        self.world.trained.append(advantages)
        if self.fail_at is not None and len(self.world.trained) == self.fail_at:
            raise LearnerFailure("learner-1 (pid 7) died during train_grpo")
        return {"policy_loss": 0.5, "grad_norm": 1.0, "num_updates": 1}

    def shutdown(self):
        pass


class Checkpoints:
    dir = "ckpt"

    def __init__(self, world):
        self.world = world

    def save(self, learner, step):
        self.world.saved.append(step)

    def load(self, learner):
        return self.world.saved[-1] if self.world.saved else 0


class Log:
    def __init__(self):
        self.records = []

    def discard_after(self, step):
        redone = [s for s, _ in self.records if s > step]
        self.records = [(s, r) for s, r in self.records if s <= step]
        return redone

    def log(self, step, total, record):
        self.records.append((step, record))


class Pipeline:
    def __init__(self, world, first):
        self.world, self.step = world, first - 1
        world.pipelines.append(first)

    def next(self):
        self.step += 1
        return batch(self.step)

    def published(self, version):
        pass

    def stop(self, wait_s=None):
        pass


class Sync:
    def __init__(self, world):
        self.world = world

    def publish(self, version):
        self.world.published.append(version)
        return {"time/sync": 0.01, "rollout_min_version": version}

    def verify(self, version, probe, tolerance):
        self.world.checked.append(version)
        return {"sync/logprob_max_abs_diff": 1e-6}


class Rollout:
    """The pool as the loop sees it: its serving workers (by step) and its fault counters."""

    restarts = retried = timeouts = batch_failures = given_up = 0

    def __init__(self, world, workers):
        self.world, self._workers = world, workers

    @property
    def workers(self):
        return self._workers(self.world.step)


def loop(overrides=(), fail_at=(), stop_at=None, workers=lambda step: ["w0"]):
    cfg = load_config(None, ["rl.steps=6", "rl.checkpoint_every=2", "rollout.verify_sync_every=3", f"rollout.group_size={G}", *overrides])
    world = SimpleNamespace(trained=[], saved=[], published=[], checked=[], pipelines=[], learners=0, step=0)
    fails = list(fail_at)

    def new_learner():
        world.learners += 1
        return Learner(world, fails.pop(0) if fails else None)

    def between_steps(step):
        world.step = step
        return step == stop_at, {"rollout_workers": 1}

    parts = RLParts(
        rollout=Rollout(world, workers), rewards=Rollout(world, workers), new_learner=new_learner, new_sync=lambda learner: Sync(world),
        new_pipeline=lambda first: Pipeline(world, first), between_steps=between_steps, checkpoints=Checkpoints(world), log=Log(),
        summarize=mean_summary,
    )
    return RLLoop(cfg, parts), world


def steps(rl):
    return [s for s, _ in rl.parts.log.records]


def test_a_run_logs_every_step_once_checkpoints_and_publishes_each_version():
    rl, world = loop()
    rl.run()
    assert steps(rl) == [1, 2, 3, 4, 5, 6] and world.saved == [2, 4, 6] and world.published == [1, 2, 3, 4, 5, 6]
    record = dict(rl.parts.log.records)[3]
    for key in ("reward_mean", "reward_std", "policy_loss", "grad_norm", "time/generate", "time/reward", "time/wait", "time/train",
                "time/sync", "time/step", "time/pools", "throughput/tokens_per_s", "staleness_max", "weights_version",
                "rollout_min_version", "prompts_digest", "learner_restarts", "rollout_restarts", "reward_timeouts",
                "reward_batch_failures", "reward_given_up", "sync/logprob_max_abs_diff"):
        assert key in record, key
    assert record["weights_version"] == 3 and record["staleness_max"] == 0 and "redone" not in record
    assert world.checked == [1, 3, 6]  # the first sync, then every 3 steps


def test_advantages_are_the_group_normalised_rewards():
    rl, world = loop()
    rl.run()
    # rewards 0, 1 in each group of 2: (R - mean) / (std + 1e-6) = -/+ 0.7071
    assert world.trained[0] == pytest.approx([-0.70710, 0.70710, -0.70710, 0.70710], abs=1e-4)


def test_a_learner_failure_restarts_from_the_newest_checkpoint_and_redoes_the_steps_since():
    rl, world = loop(fail_at=[5])  # the 5th training call (step 5) fails: back to the checkpoint of step 4
    rl.run()
    assert world.learners == 2 and world.pipelines == [1, 5] and world.published[-3:] == [4, 5, 6]  # v4 republished, then on
    assert steps(rl) == [1, 2, 3, 4, 5, 6]
    assert dict(rl.parts.log.records)[6]["learner_restarts"] == 1
    assert 5 in world.checked  # the first sync after a restart is checked


def test_steps_logged_after_the_checkpoint_are_marked_redone():
    rl, world = loop(["rl.checkpoint_every=4"])
    rl.parts.log.records = [(5, {}), (6, {})]  # as if a previous driver logged steps 5, 6 after checkpoint 4, then died
    world.saved.append(4)
    rl.run()
    records = dict(rl.parts.log.records)
    assert steps(rl) == [5, 6] and records[5].get("redone") == 1 and records[6].get("redone") == 1


def test_learner_restarts_are_bounded():
    rl, world = loop(["rl.max_learner_restarts=1"], fail_at=[2, 3])
    with pytest.raises(LearnerFailure, match="learner-1"):
        rl.run()
    assert world.learners == 2


def test_stop_ends_after_the_step_with_a_checkpoint():
    rl, world = loop(stop_at=3)
    with pytest.raises(JobStopped, match="after step 3 of 6"):
        rl.run()
    assert steps(rl) == [1, 2, 3] and world.saved == [2, 3]


def test_a_membership_change_is_checked_at_the_next_sync():
    rl, world = loop(workers=lambda step: ["w0"] if step < 4 else ["w0", "w1"])
    rl.run()
    assert world.checked == [1, 3, 4, 6]


def test_the_check_can_be_turned_off():
    rl, world = loop(["rollout.verify_sync_every=0"])
    rl.run()
    assert world.checked == [] and "sync/logprob_max_abs_diff" not in dict(rl.parts.log.records)[1]


def test_kl_in_the_reward_lowers_the_reward_before_the_advantages():
    cfg = load_config(None, [f"rollout.group_size={G}", "learner.algorithm.kl_in_reward=true", "learner.algorithm.kl_coef=0.5"])
    reward, adv = advantages_of(batch(1), cfg, kl=[0.0, 2.0, 0.0, 0.0])
    assert reward.tolist() == [0.0, 0.0, 0.0, 1.0]  # 1 - 0.5 x 2 for the second sample
    assert adv[:2].tolist() == [0.0, 0.0] and adv[2:].tolist() == pytest.approx([-0.70710, 0.70710], abs=1e-4)
