"""Weight sync: the learner's weights reach every rollout worker as a numbered version.

Two transports (`rollout.sync_transport`, learner/weights.py):
- object_store: learner rank 0 puts safetensors buckets in the Ray object store; every worker fetches
  and reloads them. Works everywhere; the refs stay with the pool for workers that join later.
- collective: learner rank 0 broadcasts flat buckets over a torch.distributed group of its own with
  the rollout workers (gloo on CPU, NCCL on GPU). The group is (re)built whenever the pool's
  membership changed; a worker that joins (or replaces a dead one) first loads the current version
  from an object-store copy. A broadcast that fails (a receiver died in it) is done over the object
  store instead, and the group rebuilt at the next publish.
"""

from __future__ import annotations

import time

import ray
from ray.exceptions import RayActorError, RayTaskError


class WeightSync:
    def __init__(self, learner, rollout, transport: str, bucket_mb: float, backend: str = "gloo"):
        self.learner, self.rollout, self.transport, self.backend = learner, rollout, transport, backend
        self.bucket_bytes = int(bucket_mb * 2**20)
        self.members: list = []  # the workers of the current broadcast group
        self.layout = None
        if transport == "collective":  # joiners and replacements fetch the current version from the object store
            rollout.weights_source = lambda: learner.export_weights(self.bucket_bytes)

    def publish(self, version: int) -> dict[str, float]:
        """Every rollout worker loads the learner's current weights as `version` (after the generation
        it is running, if any); returns the seconds spent and the oldest version a worker now holds."""
        start = time.perf_counter()
        loaded = self._broadcast(version) if self.transport == "collective" else self._via_object_store(version)
        return {"time/sync": time.perf_counter() - start, "rollout_min_version": min(info["version"] for info in loaded)}

    def _via_object_store(self, version: int) -> list[dict]:
        return self.rollout.load_weights(version, self.learner.export_weights(self.bucket_bytes))

    def _broadcast(self, version: int) -> list[dict]:
        if self.members != self.rollout.workers:
            self._connect()
        workers = self.rollout.receive_weights(version, self.layout)
        try:
            return ray.get(workers + self.learner.broadcast_weights(self.layout))[: len(workers)]
        except (RayActorError, RayTaskError) as err:  # a dead learner rank fails the export below too (the RL stage recovers it)
            print(f"weight broadcast failed ({type(err).__name__}): version {version} goes over the object store; the group is rebuilt next time", flush=True)
            self.members = []
            return self._via_object_store(version)

    def _connect(self) -> None:
        """(Re)build the broadcast group: learner rank 0 and every current rollout worker join at once."""
        host, port = self.learner.free_address()
        ray.get([self.learner.join_weight_group(host, port, len(self.rollout.workers) + 1, self.backend)] + self.rollout.join_weight_group(host, port, self.backend))
        self.members = list(self.rollout.workers)
        if self.layout is None:
            self.layout = self.learner.weight_layout(self.bucket_bytes)

    def resize(self, num_workers: int) -> None:
        """Grow or shrink the rollout pool; joining workers load the current version before serving
        (over the object store), and the next publish rebuilds the broadcast group with them."""
        self.rollout.resize(num_workers)
