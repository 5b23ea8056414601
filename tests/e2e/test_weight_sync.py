"""Weight broadcast, both transports: after a GRPO update and a sync (Ray object store, or learner
rank 0 broadcasting over a gloo group), every rollout worker's sampled log-probs equal the learner's
recomputed log-probs (fp32, within 1e-3), workers that join later included."""

import os
import signal

import pytest
import ray

from learner.config import LearnerConfig
from learner.group import LearnerGroup
from rollout.config import RolloutConfig
from rollout.pool import RolloutPool
from services.sync import WeightSync

pytestmark = pytest.mark.slow


def samples_from(groups, advantages=None):
    samples = []
    for g in groups:
        for i, r in enumerate(g["responses"]):
            samples.append({"prompt_ids": g["prompt_ids"], "response_ids": r["response_ids"], "vllm_logprobs": r["logprobs"], "version": g["version"]})
    for i, s in enumerate(samples):
        s["advantage"] = (1.0 if i % 2 else -1.0) if advantages is None else advantages[i]
    return samples


def max_gap(a, b):
    return max(abs(x - y) for xs, ys in zip(a, b) for x, y in zip(xs, ys))


@pytest.mark.parametrize("transport", ["object_store", "collective"])
def test_sync_makes_every_worker_match_the_learner(ray_cluster, tiny_model, transport):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    prompts = [tok("Game state: lamp " * k)["input_ids"] for k in (1, 2, 3, 4)]
    rollout = RolloutPool(tiny_model, RolloutConfig(num_workers=2, cpus_per_worker=0.4, max_model_len=256, sampling={"max_new_tokens": 12}))
    learner = LearnerGroup(tiny_model, LearnerConfig(num_ranks=2, cpus_per_rank=1, zero_stage=2, lr=5e-2, micro_batch_tokens=256, algorithm={"kl_coef": 0.0, "entropy_coef": 0.0}))
    try:
        groups = rollout.generate(prompts, n=4)
        samples = samples_from(groups)
        assert {s["version"] for s in samples} == {0}
        before = learner.logprobs(samples)
        assert max_gap(before, [s["vllm_logprobs"] for s in samples]) < 1e-3

        for s, lp in zip(samples, before):
            s["old_logprobs"] = lp
        metrics = learner.train_grpo(samples, samples_per_minibatch=len(samples))
        assert metrics["num_updates"] == 1 and metrics["grad_norm"] > 0
        after = learner.logprobs(samples)
        assert max_gap(after, before) > 1e-2, "the update should move the policy"

        sync = WeightSync(learner, rollout, transport, bucket_mb=0.0625)  # 64 KiB buckets: several per model
        assert sync.publish(1)["rollout_min_version"] == 1
        assert rollout.versions() == [1, 1]
        sync.resize(3)  # a worker that joins later loads the current weights before it serves
        assert rollout.versions() == [1, 1, 1]
        os.kill(rollout.pids[rollout.workers[0]], signal.SIGKILL)  # a worker dies: its replacement loads version 1 first
        assert rollout.versions() == [1, 1, 1] and rollout.restarts == 1
        # every worker: sample again, compare with the learner's recomputation of the same tokens
        for w in rollout.workers:
            fresh = samples_from(ray.get(w.generate.remote(prompts, 4)))
            assert {s["version"] for s in fresh} == {1}
            gap = max_gap(learner.logprobs(fresh), [s["vllm_logprobs"] for s in fresh])
            print(f"{transport}: max |vLLM - learner| log-prob after sync: {gap:.2e}")
            assert gap < 1e-3
        # one more update and sync reaches all three workers (collective: the group is rebuilt with the joiner and the replacement)
        for s, lp in zip(samples, learner.logprobs(samples)):
            s["old_logprobs"] = lp
        learner.train_grpo(samples, samples_per_minibatch=len(samples))
        assert sync.publish(2)["rollout_min_version"] == 2
        for w in rollout.workers:
            fresh = samples_from(ray.get(w.generate.remote(prompts[:2], 2)))
            assert max_gap(learner.logprobs(fresh), [s["vllm_logprobs"] for s in fresh]) < 1e-3
    finally:
        rollout.shutdown()
        learner.shutdown()
