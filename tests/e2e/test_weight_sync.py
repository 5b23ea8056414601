"""Weight broadcast, both transports: after a GRPO update and a sync (Ray object store, or learner
rank 0 broadcasting over a gloo group), every rollout worker's sampled log-probs equal the learner's
recomputed log-probs (fp32, within 1e-3), a worker that joins later and a replacement included; the
post-sync check agrees, and catches a sync that left one tensor behind, naming the worker and the version."""

import os
import signal

import pytest
import ray
from transformers import AutoTokenizer

from core.protocol import Prompt, Sample
from learner.config import LearnerConfig
from learner.group import LearnerGroup
from rollout.config import RolloutConfig
from rollout.pool import RolloutPool
from services.sync import SyncCheckError, WeightSync



def samples_from(groups):
    return [s for i, g in enumerate(groups) for s in Sample.from_group(g, i)]


def max_gap(a, b):
    return max(abs(x - y) for xs, ys in zip(a, b) for x, y in zip(xs, ys))


@pytest.fixture(scope="module")
def roles(ray_cluster, tiny_model):
    tok = AutoTokenizer.from_pretrained(tiny_model)
    prompts = [Prompt(tok("Game state: lamp " * k)["input_ids"]) for k in (1, 2, 3, 4)]
    rollout = RolloutPool(tiny_model, RolloutConfig(count=2, cpus=0.4, max_model_len=256, sampling={"max_new_tokens": 12}))
    learner = LearnerGroup(tiny_model, LearnerConfig(count=2, cpus=1, zero_stage=2, micro_batch_tokens=256,
                                                     algorithm={"kl_coef": 0.0, "entropy_coef": 0.0}), lr=5e-2)
    yield prompts, rollout, learner
    rollout.shutdown()
    learner.shutdown()


def train_once(learner, samples):
    advantages = [1.0 if i % 2 else -1.0 for i in range(len(samples))]
    return learner.train_grpo(samples, advantages, samples_per_minibatch=len(samples))


@pytest.mark.parametrize("transport", ["object_store", "collective"])
def test_sync_makes_every_worker_match_the_learner(roles, transport):
    prompts, rollout, learner = roles
    base = rollout.version
    groups = rollout.generate(prompts, n=4)
    samples = samples_from(groups)
    assert {s.version for s in samples} == {base}
    tok = AutoTokenizer.from_pretrained(rollout.model_path)  # the worker decoded each response once: the verifier reads that text
    assert [r.text for g in groups for r in g.responses] == tok.batch_decode([s.response_ids for s in samples], skip_special_tokens=True)
    before = learner.logprobs(samples)
    if base == 0:
        assert max_gap(before, [s.rollout_logprobs for s in samples]) < 1e-3

    metrics = train_once(learner, samples)
    assert metrics["num_updates"] == 1 and metrics["grad_norm"] > 0
    after = learner.logprobs(samples)
    assert max_gap(after, before) > 1e-2, "the update should move the policy"

    sync = WeightSync(learner, rollout, transport, bucket_mb=0.0625)  # 64 KiB buckets: several per model
    assert sync.publish(base + 1)["rollout_min_version"] == base + 1
    assert rollout.versions() == [base + 1] * 2
    assert sync.verify(base + 1, samples[:4], tolerance=1e-3)["sync/logprob_max_abs_diff"] < 1e-4  # every worker agrees
    if transport == "object_store":  # a worker that joins later loads the current weights (the sync's buckets) before it serves
        rollout.resize(3)
        assert rollout.versions() == [base + 1] * 3
    else:  # a worker dies: its replacement loads the current version (exported by the learner) first
        restarts = rollout.restarts
        os.kill(rollout.pids[rollout.workers[0]], signal.SIGKILL)
        assert rollout.versions() == [base + 1] * 2 and rollout.restarts == restarts + 1
    # every worker: sample again, compare with the learner's recomputation of the same tokens
    for w in rollout.workers:
        fresh = samples_from(ray.get(w.generate.remote(prompts, 4)))
        assert {s.version for s in fresh} == {base + 1}
        gap = max_gap(learner.logprobs(fresh), [s.rollout_logprobs for s in fresh])
        print(f"{transport}: max |vLLM - learner| log-prob after sync: {gap:.2e}")
        assert gap < 1e-3
    # one more update and sync reaches every worker (collective: the group is rebuilt with the replacement)
    train_once(learner, samples)
    assert sync.publish(base + 2)["rollout_min_version"] == base + 2
    for w in rollout.workers:
        fresh = samples_from(ray.get(w.generate.remote(prompts[:2], 2)))
        assert max_gap(learner.logprobs(fresh), [s.rollout_logprobs for s in fresh]) < 1e-3
    assert sync.verify(base + 2, samples[:4], tolerance=1e-3)["sync/logprob_max_abs_diff"] < 1e-4
    rollout.resize(2)


def test_the_post_sync_check_catches_a_tensor_left_behind(roles, tiny_model):
    """A sync that delivers every tensor but one (that one keeps the start model's value) goes unnoticed by
    the version numbers; the probe's log-probs tell, and the check names the worker and the version."""
    from safetensors.torch import load, save

    from core.weights import folder_tensors

    prompts, rollout, learner = roles
    samples = samples_from(rollout.generate(prompts, n=2))
    train_once(learner, samples)
    stale = dict(folder_tensors(tiny_model))
    name = next(n for n in stale if "layers.0.mlp.down_proj" in n)
    sync = WeightSync(learner, rollout, "object_store", bucket_mb=0.0625)
    export = learner.export_weights

    def export_leaving_one_behind(bucket_bytes):
        buckets = [load(ray.get(ref)) for ref in export(bucket_bytes)]
        for bucket in buckets:
            if name in bucket:
                bucket[name] = stale[name]
        return [ray.put(save(b)) for b in buckets]

    version = rollout.version + 1
    learner.export_weights = export_leaving_one_behind
    try:
        sync.publish(version)
    finally:
        learner.export_weights = export
    assert rollout.versions() == [version] * len(rollout.workers)  # the versions say all is well
    with pytest.raises(SyncCheckError, match=rf"after the sync of weights version {version}, rollout-\d+ \(pid \d+\) scores the probe's tokens .* away from the learner"):
        sync.verify(version, samples[:4], tolerance=1e-3)
    sync.publish(version + 1)  # a whole sync repairs it
    assert sync.verify(version + 1, samples[:4], tolerance=1e-3)["sync/logprob_max_abs_diff"] < 1e-4


def test_a_reloaded_group_scores_and_trains_as_a_new_one(roles, tiny_model):
    """The job's next stage on the same ranks (MLE, then RL: services/run.py, Pools.learner): reloaded
    from a model folder with new settings, the group scores and trains exactly as a new group would,
    and builds the reference copy that its new KL coefficient needs."""
    prompts, rollout, learner = roles
    samples = samples_from(rollout.generate(prompts, n=2))
    cfg = learner.cfg
    def score_train_score(group):
        untimed = {k: v for k, v in train_once(group, samples).items() if not k.startswith("time/")}
        return group.logprobs(samples), untimed, group.logprobs(samples)

    new = LearnerGroup(tiny_model, cfg.model_copy(update={"cpus": 0.5}), lr=5e-2)  # fits beside the others; 1 torch thread per rank alike
    try:
        expected = score_train_score(new)
    finally:
        new.shutdown()
    learner.reload(tiny_model, cfg, lr=5e-2)  # this group trained for the tests above
    assert score_train_score(learner) == expected

    with_kl = cfg.model_copy(update={"algorithm": cfg.algorithm.model_copy(update={"kl_coef": 0.1})})
    learner.reload(tiny_model, with_kl, lr=5e-2)
    assert train_once(learner, samples)["kl"] == 0.0  # the first update's policy is the reference: a reference copy was built
    with pytest.raises(ValueError, match="cannot be reloaded"):
        learner.reload(tiny_model, cfg.model_copy(update={"count": 1}), lr=5e-2)


def test_replacements_get_the_final_weights_after_the_learner_is_gone(roles, tmp_path):
    """The end of an RL stage: the pool keeps serving (evaluation reuses it) after the learner, which
    owned the object-store copy of the weights, is stopped; a worker replaced then loads the final
    weights from the saved model the driver holds."""
    prompts, rollout, learner = roles
    sync = WeightSync(learner, rollout, "object_store", bucket_mb=0.0625)
    version = rollout.version + 1
    sync.publish(version)
    learner.export_hf(str(tmp_path / "final"))
    rollout.hold_folder(str(tmp_path / "final"))
    learner.shutdown()
    probe = [(s.prompt_ids, s.response_ids) for s in samples_from(rollout.generate(prompts[:2], n=2))]
    _, before = rollout.prompt_logprobs(probe, rollout.workers[-1])
    restarts = rollout.restarts
    os.kill(rollout.pids[rollout.workers[-1]], signal.SIGKILL)
    assert rollout.versions() == [version] * len(rollout.workers) and rollout.restarts == restarts + 1
    for w in rollout.workers:
        assert max_gap(rollout.prompt_logprobs(probe, w)[1], before) < 1e-4
