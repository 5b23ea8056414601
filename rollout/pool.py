"""The rollout pool: `num_workers` RolloutWorker actors; prompts are spread over them.

Workers are independent of the learner (their count and resources come from RolloutConfig); the
pool can grow or shrink between steps, and a worker that joins loads the current weights first
(`bucket_refs`: the object-store copy of weights `version`; services/sync.py provides one for joiners
when the weights travel over the collective group).
"""

from __future__ import annotations

import ray

from rollout.config import RolloutConfig
from rollout.worker import RolloutWorker


class RolloutPool:
    def __init__(self, model_path: str, config: RolloutConfig, seed: int = 0):
        self.cfg, self.model_path, self.seed = config, model_path, seed
        self.actor = ray.remote(num_cpus=config.cpus_per_worker, num_gpus=config.gpus_per_worker)(RolloutWorker)
        self.workers: list = []
        self.version, self.bucket_refs = 0, []
        self.resize(config.num_workers)

    def resize(self, num_workers: int) -> None:
        """Add workers (which load the current weights before serving) or remove the newest ones."""
        if num_workers < 1:
            raise ValueError("the rollout pool needs at least one worker")
        while len(self.workers) > num_workers:
            ray.kill(self.workers.pop())
        if num_workers > len(self.workers) and self.version > 0 and not self.bucket_refs:
            raise RuntimeError("workers that join after a weights broadcast need an object-store copy: resize through services.sync.WeightSync")
        new = [
            self.actor.remote(self.model_path, self.cfg.model_dump(), self.seed + 1000 * i)
            for i in range(len(self.workers), num_workers)
        ]
        if self.version > 0:
            ray.get([w.load_weights.remote(self.version, self.bucket_refs) for w in new])
        else:
            ray.get([w.get_version.remote() for w in new])
        self.workers += new

    def submit(self, prompts: list[list[int]], n: int, sampling: dict | None = None, plans: list[dict] | None = None) -> list:
        """Start generating groups for every prompt; returns the futures (see `collect`). Prompts (and
        their plans) are dealt to the workers in contiguous slices; each worker runs its calls in order."""
        k = len(self.workers)
        size = -(-len(prompts) // k)
        return [
            w.generate.remote(prompts[i * size : (i + 1) * size], n, sampling, plans[i * size : (i + 1) * size] if plans else None)
            for i, w in enumerate(self.workers)
            if prompts[i * size : (i + 1) * size]
        ]

    @staticmethod
    def collect(futures: list) -> list[dict]:
        """The groups of a `submit`, in prompt order."""
        return [group for part in ray.get(futures) for group in part]

    def generate(self, prompts: list[list[int]], n: int, sampling: dict | None = None, plans: list[dict] | None = None) -> list[dict]:
        """Groups for every prompt, in input order."""
        return self.collect(self.submit(prompts, n, sampling, plans))

    def load_weights(self, version: int, bucket_refs: list) -> list[dict]:
        """Every worker loads weights `version` from the object store; the refs are kept for workers that join later."""
        self.version, self.bucket_refs = version, bucket_refs
        return ray.get([w.load_weights.remote(version, bucket_refs) for w in self.workers])

    def join_weight_group(self, host: str, port: int, backend: str) -> list:
        """Futures of every worker joining the weight-broadcast group as ranks 1..N (learner rank 0 joins concurrently)."""
        world = len(self.workers) + 1
        return [w.join_weight_group.remote(host, port, i + 1, world, backend) for i, w in enumerate(self.workers)]

    def receive_weights(self, version: int, layout) -> list:
        """Futures of every worker receiving weights `version` over the group (learner rank 0 sends concurrently)."""
        self.version, self.bucket_refs = version, []
        return [w.receive_weights.remote(version, layout) for w in self.workers]

    def versions(self) -> list[int]:
        return ray.get([w.get_version.remote() for w in self.workers])

    def shutdown(self) -> None:
        for w in self.workers:
            ray.kill(w)
        self.workers = []
