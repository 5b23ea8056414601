"""The learner group: `num_ranks` LearnerRank actors forming one DeepSpeed world on Ray.

The group shards work over its ranks and calls every collective method on all of them at once.
GRPO: the batch is split into mini-batches of `mini_batch_prompts * group_size` samples, one
optimiser update each (one epoch over the batch); each mini-batch is dealt round-robin to the ranks.

A rank that dies takes the group with it (its peers would wait in a collective forever): every
call waits on all ranks at once, and the first death kills the other ranks and raises
LearnerFailure, from which the caller re-creates the group from a checkpoint (services/rl.py).
"""

from __future__ import annotations

import ray
from ray.exceptions import RayActorError, RayTaskError

from learner.batching import chunks
from learner.config import LearnerConfig
from learner.rank import LearnerRank


def _mean(dicts: list[dict]) -> dict[str, float]:
    keys = set().union(*dicts)
    return {k: sum(d[k] for d in dicts if k in d) / sum(k in d for d in dicts) for k in keys}


class LearnerFailure(RuntimeError):
    """A learner rank died (the group's other ranks were stopped): re-create the group from a checkpoint."""


class LearnerGroup:
    def __init__(self, model_path: str, config: LearnerConfig, temperature: float = 1.0, role: str = "learner"):
        self.cfg = config
        from services.resources import actor_name, ray_options, shape, wait_ready

        actor = ray.remote(**ray_options(config.cpus_per_rank, config.gpus_per_rank, config.resources))(LearnerRank)
        self.ranks = [actor.options(name=actor_name(role)).remote(model_path, config.model_dump(), r, config.num_ranks, temperature)
                      for r in range(config.num_ranks)]
        wait_ready(self.ranks, [r.ready.remote() for r in self.ranks], "learner ranks", shape(config.cpus_per_rank, config.gpus_per_rank, config.resources))
        host, port = self.free_address()  # rank 0's node: it hosts the ranks' store
        self.pids = self.gather([r.start.remote(host, port) for r in self.ranks])  # waits until every rank is up

    def gather(self, futures: list) -> list:
        """ray.get of calls on the ranks, failing as soon as one rank died (LearnerFailure) instead of
        waiting for its peers, which may be stuck in a collective with it."""
        pending = list(futures)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            try:
                ray.get(ready)
            except RayActorError as err:
                self._fail(err)
            except RayTaskError as err:  # a peer's collective broke because a rank died: report the death
                if self._someone_died():
                    self._fail(err)
                raise
        return ray.get(list(futures))

    def _someone_died(self) -> bool:
        pings = [r.ready.remote() for r in self.ranks]
        ready, _ = ray.wait(pings, num_returns=len(pings), timeout=30)
        try:
            ray.get(ready)
        except RayActorError:
            return True
        return len(ready) < len(pings)

    def _fail(self, err: Exception):
        self.shutdown()
        raise LearnerFailure(f"a learner rank died ({type(err).__name__}); the group was stopped") from err

    def _shards(self, samples: list[dict]) -> list[list[dict]]:
        if len(samples) < len(self.ranks):
            raise ValueError(f"a mini-batch of {len(samples)} samples cannot feed {len(self.ranks)} learner ranks")
        return [samples[r :: len(self.ranks)] for r in range(len(self.ranks))]

    def logprobs(self, samples: list[dict], reference: bool = False) -> list[list[float]]:
        """Per-sample response log-probs, computed in parallel over the ranks, in input order."""
        n = len(self.ranks)
        shards = [samples[r::n] for r in range(n)]
        parts = self.gather([rank.logprobs.remote(shard, reference) for rank, shard in zip(self.ranks, shards)])
        out: list = [None] * len(samples)
        for r, part in enumerate(parts):
            out[r::n] = part
        return out

    def train_grpo(self, samples: list[dict], samples_per_minibatch: int) -> dict[str, float]:
        """One epoch of GRPO updates over `samples`; returns metrics averaged over updates and ranks."""
        results = []
        for minibatch in chunks(samples, samples_per_minibatch):
            results += self.gather([rank.train_grpo.remote(s) for rank, s in zip(self.ranks, self._shards(minibatch))])
        return {**_mean(results), "num_updates": len(results) // len(self.ranks)}

    def train_mle(self, samples: list[dict]) -> dict[str, float]:
        """One MLE update over `samples`."""
        return _mean(self.gather([rank.train_mle.remote(s) for rank, s in zip(self.ranks, self._shards(samples))]))

    def set_lr(self, lr: float) -> None:
        self.gather([r.set_lr.remote(lr) for r in self.ranks])

    def export_weights(self, bucket_bytes: int) -> list:
        """Object-store refs of the weight buckets (gathered from rank 0)."""
        return self.gather([r.export_weights.remote(bucket_bytes) for r in self.ranks])[0]

    def free_address(self) -> tuple[str, int]:
        return self.gather([self.ranks[0].free_address.remote()])[0]

    def join_weight_group(self, host: str, port: int, world_size: int, backend: str):
        """Rank 0 joins the weight-broadcast group as its sender; returns the future (the receivers join concurrently)."""
        return self.ranks[0].join_weight_group.remote(host, port, world_size, backend)

    def weight_layout(self, bucket_bytes: int):
        return self.gather([r.weight_layout.remote(bucket_bytes) for r in self.ranks])[0]

    def broadcast_weights(self, layout) -> list:
        """Futures of every rank's part of a broadcast (rank 0 sends); the receivers must be called concurrently."""
        return [r.broadcast_weights.remote(layout) for r in self.ranks]

    def save_checkpoint(self, directory: str, tag: str) -> None:
        self.gather([r.save_checkpoint.remote(directory, tag) for r in self.ranks])

    def load_checkpoint(self, directory: str, tag: str) -> None:
        self.gather([r.load_checkpoint.remote(directory, tag) for r in self.ranks])

    def export_hf(self, directory: str) -> None:
        self.gather([r.export_hf.remote(directory) for r in self.ranks])

    def shutdown(self) -> None:
        for r in self.ranks:
            ray.kill(r)
        self.ranks = []
