"""Rollout and reward pools on the real stack, with workers killed (SIGKILL) or frozen (SIGSTOP) in the
middle of their work: every prompt still gets its group and every prediction its score, the dead
workers are replaced and counted, and seeded prompts give the same samples wherever they run."""

import time

import pytest

from core.protocol import Prompt
from rewards.config import RewardConfig
from rewards.pool import RewardPool
from rollout.config import RolloutConfig, SamplingConfig
from rollout.pool import RolloutPool
from tests.e2e.chaos import SIGKILL, SIGSTOP, signal_when

PROMPTS = [Prompt([1, 40 + i, 50 + i, 60 + i], seed=100 + i) for i in range(8)]


def tokens(groups):
    return [[r.ids for r in g.responses] for g in groups]


def test_a_joiner_that_cannot_start_is_replaced_a_bounded_number_of_times(ray_cluster, tiny_model, tmp_path):
    """A worker added by a resize that fails to start (no model folder on its node): another takes its
    slot and serves the current weights; when every try fails, DispatchError names the worker after
    `max_attempts` in a row, and the pool serves on with the workers it has."""
    from core.dispatch import DispatchError

    broken = tmp_path / "no_model_here"  # the node lacks the model folder (a cluster's storage not mounted)
    cfg = RolloutConfig(count=1, cpus=1, max_model_len=256, max_attempts=2, sampling=SamplingConfig(max_new_tokens=8))
    pool = RolloutPool(tiny_model, cfg, seed=0)
    launch, bad = pool._launch, [str(broken)]
    pool._launch = lambda count: (setattr(pool, "model_path", bad.pop() if bad else tiny_model), launch(count))[1]
    try:
        pool.load_folder(1, tiny_model)  # joiners load weights version 1 before they serve
        reference = tokens(pool.generate(PROMPTS, n=2))
        pool.resize(2)  # the first joiner fails, the second serves
        assert len(pool.workers) == 2 and not pool.joining and pool.join_failures == pool.restarts == 1
        assert pool.versions() == [1, 1] and tokens(pool.generate(PROMPTS, n=2)) == reference

        bad += [str(broken)] * 2
        pool.request(3)
        deadline = time.monotonic() + 600
        with pytest.raises(DispatchError, match=r"rollout: 2 workers in a row could not join the pool \(the last, rollout-\d+, .*no model folder .*no_model_here"):
            while time.monotonic() < deadline:
                pool.admit_ready()  # between steps, as services/ctl.py does
                time.sleep(0.5)
        assert pool.join_failures == 3 and len(pool.workers) == 2 and not pool.joining
        assert tokens(pool.generate(PROMPTS, n=2)) == reference
    finally:
        pool.shutdown()


def hang_or_slow(prediction, reference):
    """A user verifier: hangs on 'hang', takes 0.5 s on 'slow', else scores 1."""
    if prediction == "hang":
        time.sleep(3600)
    if prediction == "slow":
        time.sleep(0.5)
    return 1.0


def test_reward_worker_killed_mid_batch_is_rescored_and_a_hung_sample_floors_alone(ray_cluster):
    import threading

    pool = RewardPool(RewardConfig(count=2, batch_size=4, timeout_s=5.0), "tests.e2e.test_pool_faults:hang_or_slow")
    try:
        victim = threading.Thread(target=signal_when, args=("ray::RewardWorker.score", SIGKILL, 60))
        victim.start()
        results = pool.score(["slow"] * 16, [None] * 16)
        victim.join()
        assert [r.reward for r in results] == [1.0] * 16 and pool.restarts == 1 and pool.retried == 4 and pool.timeouts == 0

        results = pool.score(["ok", "hang", "ok", "ok", "ok", "ok"], [None] * 6)
        assert [r.reward for r in results] == [1.0, 0.0, 1.0, 1.0, 1.0, 1.0]  # the batchmates of the hung sample are scored
        assert results[1].error == "timeout" and pool.timeouts == pool.given_up == 1 and pool.retried == 4 + 4 and pool.restarts == 3
    finally:
        pool.shutdown()


def test_reward_deadline_counts_scoring_not_worker_start_up(ray_cluster):
    """The verifier module takes longer to import than the deadline: no prediction times out."""
    pool = RewardPool(RewardConfig(count=2, batch_size=1, timeout_s=2.0), "tests.e2e.slow_import_verifier:score")
    try:
        assert [r.reward for r in pool.score(["a", "b", "c"], [None] * 3)] == [1.0] * 3 and pool.timeouts == 0
    finally:
        pool.shutdown()


@pytest.fixture(scope="module")
def pool(ray_cluster, tiny_model):
    """2 rollout workers (vLLM) whose calls are cut off after 15 s, shared by the tests below (the last of the module)."""
    pool = RolloutPool(tiny_model, RolloutConfig(count=2, cpus=0.5, max_model_len=1024, timeout_s=15.0, sampling=SamplingConfig(max_new_tokens=48)), seed=0)
    yield pool
    pool.shutdown()


def test_seeded_prompts_longer_than_an_engine_step_generate_reproducibly(pool):
    """6 prompts of 900 tokens x 4 samples (3 prompts, ~10k tokens, per worker) exceed one engine step's
    token budget (4096): vLLM on CPU would split a prefill and fail on the seeded generators; whole prefills keep it going."""
    long = [Prompt([1] + [40 + (7 * i + j) % 250 for j in range(900)], seed=100 + i) for i in range(6)]
    short = SamplingConfig(max_new_tokens=8)
    first = tokens(pool.generate(long, n=4, sampling=short))
    assert all(len(g) == 4 and all(r for r in g) for g in first)
    assert tokens(pool.generate(long, n=4, sampling=short)) == first


def test_rollout_worker_killed_or_frozen_mid_generation(pool):
    import threading

    reference = tokens(pool.generate(PROMPTS, n=4))
    assert tokens(pool.generate(PROMPTS, n=4)) == reference  # seeded: the same samples again

    for sig, why in ((SIGKILL, "died"), (SIGSTOP, "hung")):
        restarts, retried = pool.restarts, pool.retried
        gen = pool.submit(PROMPTS * 4, n=4)  # long enough to be caught mid-generation
        victim = threading.Thread(target=signal_when, args=("ray::RolloutWorker.generate", sig, 60))
        victim.start()
        start = time.monotonic()
        groups = pool.collect(gen)
        victim.join()
        assert tokens(groups) == reference * 4, why  # every prompt's group, as if nothing happened
        assert pool.restarts == restarts + 1 and pool.retried == retried + 16, why
        pool.dispatcher.settle()  # the replacement serves once it is up
        assert len(set(pool.workers)) == 2 and len(pool.pids) == 2
        if sig == SIGSTOP:
            assert time.monotonic() - start >= pool.cfg.timeout_s  # cut off at the deadline, not before
    assert tokens(pool.generate(PROMPTS, n=4)) == reference  # the replacements serve the same weights
