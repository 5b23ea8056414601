"""The reward pool: `num_workers` RewardWorker actors that score batches of predictions in parallel.

Each worker loads its verifier once (heavy state such as LPIPS stays in the worker). A batch that
does not finish within `timeout_s` gets the floor reward with error "timeout", is counted, and its
worker is killed and replaced; a verifier that raises gives the floor reward with the exception
named. Scoring never raises for a bad prediction.
"""

from __future__ import annotations

import time

import ray

from rewards.config import RewardConfig
from rewards.registry import get_verifier
from rewards.types import RewardResult



class RewardWorker:
    def __init__(self, verifier: str, threads: int = 1):
        import torch

        torch.set_num_threads(threads)  # heavy verifiers (video: decoder + LPIPS) use what the worker reserved
        self.verifier = get_verifier(verifier)

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
    def __init__(self, config: RewardConfig, verifier: str):
        self.cfg, self.verifier = config, verifier
        self.floor = get_verifier(verifier).floor
        self.actor = ray.remote(num_cpus=config.cpus_per_worker)(RewardWorker)
        self.threads = max(1, int(config.cpus_per_worker))
        self.workers = [self.actor.remote(verifier, self.threads) for _ in range(config.num_workers)]
        self.timeouts = 0  # batches cut off so far
        self.restarts = 0  # workers replaced so far

    def _replace(self, index: int) -> None:
        ray.kill(self.workers[index])
        self.workers[index] = self.actor.remote(self.verifier, self.threads)
        self.restarts += 1

    def score(self, predictions: list, references: list) -> list[RewardResult]:
        """Results in input order; at most one batch in flight per worker, each with its own deadline."""
        size = self.cfg.batch_size
        queue = list(range(0, len(predictions), size))  # batch start offsets
        results: list[RewardResult | None] = [None] * len(predictions)
        idle = list(range(len(self.workers)))
        in_flight: dict = {}  # ref -> (start offset, worker index, started at)
        while queue or in_flight:
            while queue and idle:
                start, w = queue.pop(0), idle.pop(0)
                ref = self.workers[w].score.remote(predictions[start : start + size], references[start : start + size])
                in_flight[ref] = (start, w, time.monotonic())
            oldest = min(t for _, _, t in in_flight.values())
            wait_s = max(0.0, oldest + self.cfg.timeout_s - time.monotonic())
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=wait_s)
            for ref in ready:
                start, w, _ = in_flight.pop(ref)
                results[start : start + size] = ray.get(ref)
                idle.append(w)
            for ref, (start, w, began) in list(in_flight.items()):
                if time.monotonic() - began >= self.cfg.timeout_s:
                    del in_flight[ref]
                    count = min(size, len(predictions) - start)
                    results[start : start + count] = [RewardResult(self.floor, {}, "timeout") for _ in range(count)]
                    self.timeouts += 1
                    self._replace(w)
                    idle.append(w)
        return results  # type: ignore[return-value]

    def shutdown(self) -> None:
        for w in self.workers:
            ray.kill(w)
        self.workers = []
