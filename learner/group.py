"""The learner group: `num_ranks` LearnerRank actors forming one DeepSpeed world on Ray.

The group shards work over its ranks and calls every collective method on all of them at once.
GRPO: the batch is split into mini-batches of `mini_batch_prompts * group_size` samples, one
optimiser update each (one epoch over the batch); each mini-batch is dealt round-robin to the ranks.
"""

from __future__ import annotations

import ray

from learner.batching import chunks
from learner.config import LearnerConfig
from learner.rank import LearnerRank
from learner.weights import free_port


def _mean(dicts: list[dict]) -> dict[str, float]:
    keys = set().union(*dicts)
    return {k: sum(d[k] for d in dicts if k in d) / sum(k in d for d in dicts) for k in keys}


class LearnerGroup:
    def __init__(self, model_path: str, config: LearnerConfig, temperature: float = 1.0):
        self.cfg = config
        port = free_port()
        actor = ray.remote(num_cpus=config.cpus_per_rank, num_gpus=config.gpus_per_rank)(LearnerRank)
        self.ranks = [
            actor.remote(model_path, config.model_dump(), r, config.num_ranks, port, temperature)
            for r in range(config.num_ranks)
        ]
        ray.get([r.set_lr.remote(config.lr) for r in self.ranks])  # waits until every rank is up

    def _shards(self, samples: list[dict]) -> list[list[dict]]:
        if len(samples) < len(self.ranks):
            raise ValueError(f"a mini-batch of {len(samples)} samples cannot feed {len(self.ranks)} learner ranks")
        return [samples[r :: len(self.ranks)] for r in range(len(self.ranks))]

    def logprobs(self, samples: list[dict], reference: bool = False) -> list[list[float]]:
        """Per-sample response log-probs, computed in parallel over the ranks, in input order."""
        n = len(self.ranks)
        shards = [samples[r::n] for r in range(n)]
        parts = ray.get([rank.logprobs.remote(shard, reference) for rank, shard in zip(self.ranks, shards)])
        out: list = [None] * len(samples)
        for r, part in enumerate(parts):
            out[r::n] = part
        return out

    def train_grpo(self, samples: list[dict], samples_per_minibatch: int) -> dict[str, float]:
        """One epoch of GRPO updates over `samples`; returns metrics averaged over updates and ranks."""
        results = []
        for minibatch in chunks(samples, samples_per_minibatch):
            results += ray.get([rank.train_grpo.remote(s) for rank, s in zip(self.ranks, self._shards(minibatch))])
        return {**_mean(results), "num_updates": len(results) // len(self.ranks)}

    def train_mle(self, samples: list[dict]) -> dict[str, float]:
        """One MLE update over `samples`."""
        return _mean(ray.get([rank.train_mle.remote(s) for rank, s in zip(self.ranks, self._shards(samples))]))

    def set_lr(self, lr: float) -> None:
        ray.get([r.set_lr.remote(lr) for r in self.ranks])

    def export_weights(self, bucket_bytes: int) -> list:
        """Object-store refs of the weight buckets (gathered from rank 0)."""
        return ray.get([r.export_weights.remote(bucket_bytes) for r in self.ranks])[0]

    def weight_group_address(self) -> tuple[str, int]:
        return ray.get(self.ranks[0].weight_group_address.remote())

    def join_weight_group(self, host: str, port: int, world_size: int, backend: str):
        """Rank 0 joins the weight-broadcast group as its sender; returns the future (the receivers join concurrently)."""
        return self.ranks[0].join_weight_group.remote(host, port, world_size, backend)

    def weight_layout(self, bucket_bytes: int):
        return ray.get([r.weight_layout.remote(bucket_bytes) for r in self.ranks])[0]

    def broadcast_weights(self, layout) -> list:
        """Futures of every rank's part of a broadcast (rank 0 sends); the receivers must be called concurrently."""
        return [r.broadcast_weights.remote(layout) for r in self.ranks]

    def save_checkpoint(self, directory: str, tag: str) -> None:
        ray.get([r.save_checkpoint.remote(directory, tag) for r in self.ranks])

    def load_checkpoint(self, directory: str, tag: str) -> None:
        ray.get([r.load_checkpoint.remote(directory, tag) for r in self.ranks])

    def export_hf(self, directory: str) -> None:
        ray.get([r.export_hf.remote(directory) for r in self.ranks])

    def shutdown(self) -> None:
        for r in self.ranks:
            ray.kill(r)
        self.ranks = []
