"""The reward pool: `num_workers` RewardWorker actors that score batches of predictions in parallel.

Each worker loads its verifier once (heavy state such as LPIPS stays in the worker) and is ready
before it gets its first batch, so a deadline counts scoring only, never a worker's start-up
(replacements too). Scoring never raises for a bad prediction, and never loses one:
- a verifier that raises gives the floor reward with the exception named;
- a batch that does not finish within `timeout_s` is cut off and its worker replaced; its samples
  are scored again one per call, each with its own deadline, so only a sample that hangs alone gets
  the floor reward (error "timeout");
- a worker that dies is replaced and its batch scored again (scoring is idempotent).
`timeouts`, `retried` (samples scored again) and `restarts` (workers replaced) count what happened.
Workers are named `reward-<n>`; `resize` changes their count from the next call on (services/ctl.py).
"""

from __future__ import annotations

import time

import ray
from ray.exceptions import RayActorError

from rewards.config import RewardConfig
from rewards.registry import get_verifier
from rewards.types import RewardResult

MAX_ATTEMPTS = 3  # a batch whose workers die this often gets the floor reward ("worker_died")


class RewardWorker:
    def __init__(self, verifier: str, threads: int = 1):
        import torch

        from services.cluster import redirect_worker_output

        redirect_worker_output()

        torch.set_num_threads(threads)  # heavy verifiers (video: decoder + LPIPS) use what the worker reserved
        self.verifier = get_verifier(verifier)

    def ready(self) -> int:
        """The worker's process id, once its verifier is loaded."""
        import os

        return os.getpid()

    def score(self, predictions: list, references: list) -> list[RewardResult]:
        """The batch in one verifier call when the verifier scores batches; one at a time otherwise, or
        when the batch call fails (so an exception floors only the sample that raises)."""
        if self.verifier.score_batch is not None:
            try:
                return self.verifier.score_batch(predictions, references)
            except Exception:
                pass
        out = []
        for prediction, reference in zip(predictions, references):
            try:
                out.append(self.verifier.score(prediction, reference))
            except Exception as err:  # a verifier bug must not lose the batch
                out.append(RewardResult(self.verifier.floor, {}, f"verifier_exception: {type(err).__name__}: {err}"[:300]))
        return out


class RewardPool:
    def __init__(self, config: RewardConfig, verifier: str, role: str = "reward"):
        from services.resources import ray_options, shape

        self.cfg, self.verifier, self.role = config, verifier, role
        self.floor = get_verifier(verifier).floor
        self.actor = ray.remote(**ray_options(config.cpus_per_worker, 0.0, config.resources))(RewardWorker)
        self.shape = shape(config.cpus_per_worker, 0.0, config.resources)
        self.threads = max(1, int(config.cpus_per_worker))
        self.pids: dict = {}  # worker handle -> process id
        self.workers = self._start(config.num_workers)
        self.wanted = config.num_workers  # the size the next `score` call starts with (`resize`)
        self.timeouts = 0  # samples given the floor reward because they hung alone
        self.retried = 0  # samples scored again (their batch hung, or its worker died)
        self.restarts = 0  # workers replaced

    def _start(self, count: int) -> list:
        """`count` new workers named `<role>-<n>`, each with its verifier loaded."""
        from services.resources import actor_name, wait_ready

        new = [self.actor.options(name=actor_name(self.role)).remote(self.verifier, self.threads) for _ in range(count)]
        self.pids.update(zip(new, wait_ready(new, [w.ready.remote() for w in new], f"{self.role} workers", self.shape)))
        return new

    def _replace(self, index: int) -> None:
        ray.kill(self.workers[index], no_restart=True)
        self.pids.pop(self.workers[index], None)
        self.workers[index] = self._start(1)[0]
        self.restarts += 1

    def resize(self, num_workers: int) -> None:
        """Score with `num_workers` workers from the next `score` call on (the call in progress, in
        another thread, keeps its workers)."""
        if num_workers < 1:
            raise ValueError("the reward pool needs at least one worker")
        self.wanted = num_workers

    def _apply_size(self) -> None:
        while len(self.workers) > self.wanted:
            worker = self.workers.pop()
            self.pids.pop(worker, None)
            ray.kill(worker, no_restart=True)  # idle: no batch is in flight between calls
        self.workers += self._start(self.wanted - len(self.workers))

    def score(self, predictions: list, references: list) -> list[RewardResult]:
        """Results in input order; at most one batch in flight per worker, each with its own deadline."""
        self._apply_size()
        size = self.cfg.batch_size
        queue = [(start, min(start + size, len(predictions)), 1) for start in range(0, len(predictions), size)]  # (start, end, attempt)
        results: list[RewardResult | None] = [None] * len(predictions)
        idle = list(range(len(self.workers)))
        in_flight: dict = {}  # ref -> (start, end, attempt, worker index, started at)
        while queue or in_flight:
            while queue and idle:
                (start, end, attempt), w = queue.pop(0), idle.pop(0)
                ref = self.workers[w].score.remote(predictions[start:end], references[start:end])
                in_flight[ref] = (start, end, attempt, w, time.monotonic())
            oldest = min(t for *_, t in in_flight.values())
            ray.wait(list(in_flight), num_returns=1, timeout=max(0.0, oldest + self.cfg.timeout_s - time.monotonic()))
            ready, pending = ray.wait(list(in_flight), num_returns=len(in_flight), timeout=0)
            now = time.monotonic()  # deadlines are judged before a replacement below blocks this loop
            hung = [ref for ref in pending if now - in_flight[ref][4] >= self.cfg.timeout_s]
            for ref in ready:
                start, end, attempt, w, _ = in_flight.pop(ref)
                try:
                    results[start:end] = ray.get(ref)
                except RayActorError:  # the worker died: score the batch again on another
                    self._replace(w)
                    if attempt < MAX_ATTEMPTS:
                        queue.append((start, end, attempt + 1))
                        self.retried += end - start
                    else:
                        results[start:end] = [RewardResult(self.floor, {}, "worker_died") for _ in range(start, end)]
                idle.append(w)
            for ref in hung:
                start, end, attempt, w, _ = in_flight.pop(ref)
                self._replace(w)
                if end - start > 1:  # find the sample that hangs: the others are scored again, one per call
                    queue += [(i, i + 1, attempt) for i in range(start, end)]
                    self.retried += end - start
                else:
                    results[start] = RewardResult(self.floor, {}, "timeout")
                    self.timeouts += 1
                idle.append(w)
        return results  # type: ignore[return-value]

    def shutdown(self) -> None:
        for w in self.workers:
            ray.kill(w)
        self.workers = []
