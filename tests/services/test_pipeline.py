"""The rollout pipeline's schedule (glue, so the rollout and reward pools are stand-ins here; the real
stack runs it in tests/e2e/test_rl_job.py): the staleness bound, the fixed version per step, the
overlap of generation with training, and errors reaching the learner's side."""

import threading
import time

import pytest

from core.protocol import Group, Response
from rewards.types import RewardResult
from rollout.config import SamplingConfig
from services.config import load_config
from services.pipeline import RolloutPipeline, draw_prompts, rl_epoch
from services.rl import old_logprobs_source
from services.run import Encoded
from worlds.registry import Example


class FakeRollout:
    """Records each submitted generation in `events` (shared with the learner loop below) and stamps its
    groups with the weights version the workers hold, as RolloutWorker does; `fail_at` raises on that one."""

    def __init__(self, seconds=0.0, fail_at=None):
        self.version, self.seconds, self.fail_at = 0, seconds, fail_at
        self.events, self.samplings, self.lock = [], [], threading.Lock()

    def submit(self, prompts, n, sampling=None):
        with self.lock:
            self.events.append(("generate", sum(e[0] == "generate" for e in self.events) + 1))
            self.samplings.append(sampling)
            if self.fail_at == self.events[-1][1]:
                raise RuntimeError("worker died")
            answer = [2] if sampling is GREEDY else [1]  # greedy answers are told apart by their reward
            return [Group(p.ids, [Response(answer, [-0.1])] * n, self.version, self.seconds) for p in prompts]

    def collect(self, futures):
        time.sleep(self.seconds)
        return futures


class FakeRewards:
    def score(self, predictions, references):
        return [RewardResult(float(p[0])) for p in predictions]


GREEDY = SamplingConfig(temperature=0.0)
DATA = [Encoded(Example(id=str(i), prompt=None, answer=None, reference=None), [i], [0]) for i in range(10)]


def run_loop(staleness, steps=6, train_s=0.0, rollout=None, greedy_baseline=False):
    rollout = rollout or FakeRollout()
    pipeline = RolloutPipeline(rollout, FakeRewards(), DATA, seed=0, prompts_per_step=2, group_size=3, first_step=1, last_step=steps,
                               max_staleness=staleness, greedy_baseline=greedy_baseline, greedy_sampling=GREEDY)
    seen = []
    try:
        for step in range(1, steps + 1):
            batch = pipeline.next()
            seen.append((batch.step, {s.version for s in batch.samples}))
            if greedy_baseline:  # one greedy answer per prompt, scored apart from the samples
                assert [r.reward for r in batch.results] == [1.0] * 6 and [r.reward for r in batch.greedy] == [2.0, 2.0]
            else:
                assert batch.greedy is None
            with rollout.lock:
                rollout.events.append(("train", step))
            time.sleep(train_s)  # training
            with rollout.lock:
                rollout.events.append(("trained", step))
                rollout.version = step  # the sync
            pipeline.published(step)
    finally:
        pipeline.stop()
        pipeline.thread.join(timeout=10)
    return seen, rollout


@pytest.mark.parametrize("staleness", [0, 1, 2])
def test_no_sample_trains_more_than_the_bound_behind(staleness):
    seen, _ = run_loop(staleness)
    assert [s for s, _ in seen] == list(range(1, 7))
    for step, versions in seen:
        (version,) = versions
        assert 0 <= step - 1 - version <= staleness
        if staleness <= 1:  # the version of each step is fixed, whatever the timing
            assert version == max(0, step - 1 - staleness)


@pytest.mark.parametrize("staleness", [0, 1])
def test_a_greedy_baseline_is_generated_beside_each_step_with_the_same_weights(staleness):
    seen, rollout = run_loop(staleness, steps=3, greedy_baseline=True)
    assert rollout.samplings == [None, GREEDY] * 3  # submitted back to back: no publish in between
    assert all(len(versions) == 1 for _, versions in seen)


def test_async_generates_the_next_step_while_the_learner_trains():
    _, rollout = run_loop(staleness=1, steps=4, train_s=0.05)
    order = rollout.events
    for t in range(1, 4):  # async: step t + 1 is generated before the learner starts training step t
        assert order.index(("generate", t + 1)) < order.index(("train", t))
    _, rollout = run_loop(staleness=0, steps=4, train_s=0.05)
    order = rollout.events
    for t in range(1, 4):  # sync: only after the weights of step t exist
        assert order.index(("generate", t + 1)) > order.index(("trained", t))


def test_a_rollout_error_reaches_the_learner():
    with pytest.raises(RuntimeError, match="worker died"):
        run_loop(staleness=1, rollout=FakeRollout(fail_at=3))


def ids(items):
    return [e.example.id for e in items]


def test_prompts_of_a_step_depend_on_seed_and_step_only():
    assert ids(draw_prompts(DATA, 0, 5, 4)) == ids(draw_prompts(DATA, 0, 5, 4))
    assert ids(draw_prompts(DATA, 0, 5, 4)) != ids(draw_prompts(DATA, 0, 6, 4))
    # steps walk through the epochs laid end to end: 10 examples, 4 per step -> step 3 straddles epochs 0 and 1
    epochs = ids(rl_epoch(DATA, 0, 0)) + ids(rl_epoch(DATA, 0, 1))
    assert ids(draw_prompts(DATA, 0, 1, 4) + draw_prompts(DATA, 0, 2, 4) + draw_prompts(DATA, 0, 3, 4)) == epochs[:12]
    assert sorted(epochs[:10]) == sorted(ids(DATA))  # every prompt once per epoch


MIXED = [Encoded(Example(id=f"{'c' if i % 5 == 0 else 'u'}{i}", prompt=None, answer=None, reference=None, meta={"changed": i % 5 == 0}), [i], [0])
         for i in range(200)]  # 40 changed, 160 unchanged transitions


def test_rl_mix_keeps_every_changed_transition_and_samples_unchanged_ones_per_epoch():
    epochs = [rl_epoch(MIXED, 0, e, unchanged_per_changed=0.05) for e in range(3)]
    for epoch in epochs:
        assert sum(e.example.meta["changed"] for e in epoch) == 40 and len(epoch) == 42  # 100:5, as the paper
    unchanged = [{e.example.id for e in epoch if not e.example.meta["changed"]} for epoch in epochs]
    assert len(set(map(frozenset, unchanged))) > 1  # resampled per epoch, from the seed
    assert ids(rl_epoch(MIXED, 0, 1, 0.05)) == ids(epochs[1])
    assert len(rl_epoch(MIXED, 0, 0, 0.40)) == 56 and len(rl_epoch(MIXED, 0, 0, 10.0)) == 200  # capped by what exists
    step = draw_prompts(MIXED, 0, 1, 16, 0.05)
    assert sum(e.example.meta["changed"] for e in step) >= 14


@pytest.mark.parametrize("overrides, source", [
    ([], "rollout"),  # float32 engine and learner, untruncated sampling
    (["rollout.dtype=bfloat16"], "recompute"),
    (["rollout.sampling.top_k=50"], "recompute"),
    (["rollout.dtype=bfloat16", "learner.old_logprobs=rollout"], "rollout"),
    (["learner.old_logprobs=recompute"], "recompute"),
])
def test_old_logprobs_auto_uses_the_rollouts_only_where_exact(overrides, source):
    assert old_logprobs_source(load_config(None, overrides)) == source


def test_sampling_seeds_depend_on_seed_key_and_position_only():
    from services.pipeline import sampling_seeds

    assert sampling_seeds(0, 3, 4) == sampling_seeds(0, 3, 4) and sampling_seeds(0, 3, 2) == sampling_seeds(0, 3, 4)[:2]
    assert len(set(sampling_seeds(0, 3, 64) + sampling_seeds(0, 4, 64) + sampling_seeds(1, 3, 64))) == 192
    assert all(0 <= s < 2**31 for s in sampling_seeds(7, "eval", 100))
