"""Weight sync: the learner's weights reach every rollout worker as a numbered version.

Two transports (`rollout.sync_transport`, core/weights.py):
- object_store: learner rank 0 puts safetensors buckets in the Ray object store; every worker fetches
  and reloads them. Works everywhere; the refs stay with the pool for workers that join later.
- collective: learner rank 0 broadcasts flat buckets over a torch.distributed group of its own with
  the rollout workers (gloo on CPU, NCCL on GPU). The group is (re)built whenever the pool's
  membership changed; a worker that joins (or replaces a dead one) first loads the current version
  from an object-store copy. A broadcast that fails (a receiver died in it) is done over the object
  store instead, and the group rebuilt at the next publish.

`verify` is the post-sync check: a fixed probe (a few prompt + response pairs) is scored by every
rollout worker after a sync and by the learner; the largest log-prob difference is the metric
`sync/logprob_max_abs_diff`, and above the tolerance the run stops with SyncCheckError naming the
worker and the weights version (a sync that silently left a tensor behind is caught here, not weeks
later as a "staleness" problem).
"""

from __future__ import annotations

import logging
import time

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from core.protocol import Sample

log = logging.getLogger(__name__)


class SyncCheckError(RuntimeError):
    """After a weight sync a rollout worker's log-probs differ from the learner's beyond the tolerance."""


class WeightSync:
    def __init__(self, learner, rollout, transport: str, bucket_mb: float, backend: str = "gloo", timeout_s: float = 1800.0):
        self.learner, self.rollout, self.transport, self.backend, self.timeout_s = learner, rollout, transport, backend, timeout_s
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
            return ray.get(workers + self.learner.broadcast_weights(self.layout), timeout=self.timeout_s)[: len(workers)]
        except (RayActorError, RayTaskError, GetTimeoutError) as err:  # a dead learner rank fails the export below too (the RL stage recovers it)
            log.warning("weight broadcast of version %d failed (%s): it goes over the object store; the group is rebuilt next time", version, type(err).__name__)
            self.members = []
            return self._via_object_store(version)

    def _connect(self) -> None:
        """(Re)build the broadcast group: learner rank 0 and every current rollout worker join at once."""
        host, port = self.learner.free_address()
        joins = [self.learner.join_weight_group(host, port, len(self.rollout.workers) + 1, self.backend)] + self.rollout.join_weight_group(host, port, self.backend, self.timeout_s)
        ray.get(joins, timeout=self.timeout_s)
        self.members = list(self.rollout.workers)
        if self.layout is None:
            self.layout = self.learner.weight_layout(self.bucket_bytes)

    def verify(self, version: int, probe: list[Sample], tolerance: float) -> dict[str, float]:
        """The post-sync check: every serving rollout worker and the learner score `probe` (temperature 1,
        every id); returns {"sync/logprob_max_abs_diff": the largest difference}; raises SyncCheckError
        naming the worker when it exceeds `tolerance`."""
        start = time.perf_counter()
        expected = self.learner.logprobs(probe, raw=True)
        sequences = [(s.prompt_ids, s.response_ids) for s in probe]
        worst = 0.0
        for worker in list(self.rollout.workers):
            who, got = self.rollout.prompt_logprobs(sequences, worker)
            gap = max(abs(a - b) for xs, ys in zip(expected, got) for a, b in zip(xs, ys))
            if gap > tolerance:
                raise SyncCheckError(f"after the sync of weights version {version}, {who} scores the probe's tokens {gap:.3g} away from the "
                                     f"learner (rollout.verify_sync_tolerance = {tolerance:g}): its weights are not the learner's; "
                                     f"the weight sync ({self.transport}) did not deliver them whole")
            worst = max(worst, gap)
        return {"sync/logprob_max_abs_diff": worst, "time/sync_check": time.perf_counter() - start}
