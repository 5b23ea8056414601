"""Weight sync: the learner's weights reach every rollout worker as a numbered version.

Two transports (`rollout.sync_transport`, learner/weights.py):
- object_store: learner rank 0 puts safetensors buckets in the Ray object store; every worker fetches
  and reloads them. Works everywhere; the refs stay with the pool for workers that join later.
- collective: learner rank 0 broadcasts flat buckets over a torch.distributed group of its own with
  the rollout workers (gloo on CPU, NCCL on GPU). The group is (re)built whenever the pool's
  membership changed; a worker that joins first loads the current version from an object-store copy.
"""

from __future__ import annotations

import time

import ray


class WeightSync:
    def __init__(self, learner, rollout, transport: str, bucket_mb: float, backend: str = "gloo"):
        self.learner, self.rollout, self.transport, self.backend = learner, rollout, transport, backend
        self.bucket_bytes = int(bucket_mb * 2**20)
        self.members: list = []  # the workers of the current broadcast group
        self.layout = None

    def publish(self, version: int) -> dict[str, float]:
        """Every rollout worker loads the learner's current weights as `version` (after the generation
        it is running, if any); returns the seconds spent and the oldest version a worker now holds."""
        start = time.perf_counter()
        if self.transport == "object_store":
            loaded = self.rollout.load_weights(version, self.learner.export_weights(self.bucket_bytes))
        else:
            if self.members != self.rollout.workers:
                self._connect()
            workers = self.rollout.receive_weights(version, self.layout)
            loaded = ray.get(workers + self.learner.broadcast_weights(self.layout))[: len(workers)]
        return {"time/sync": time.perf_counter() - start, "rollout_min_version": min(info["version"] for info in loaded)}

    def _connect(self) -> None:
        """(Re)build the broadcast group: learner rank 0 and every current rollout worker join at once."""
        host, port = self.learner.weight_group_address()
        ray.get([self.learner.join_weight_group(host, port, len(self.rollout.workers) + 1, self.backend)] + self.rollout.join_weight_group(host, port, self.backend))
        self.members = list(self.rollout.workers)
        if self.layout is None:
            self.layout = self.learner.weight_layout(self.bucket_bytes)

    def resize(self, num_workers: int) -> None:
        """Grow or shrink the rollout pool; joining workers load the current version before serving."""
        joining = num_workers > len(self.rollout.workers) and self.rollout.version > 0
        if self.transport == "collective" and joining:
            self.rollout.bucket_refs = self.learner.export_weights(self.bucket_bytes)
        self.rollout.resize(num_workers)
        if self.transport == "collective":
            self.rollout.bucket_refs = []  # the next publish rebuilds the group with the joiners
