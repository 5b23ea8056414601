"""The reward pool: `rewards.count` RewardWorker actors that score batches of predictions in parallel.

    pool = RewardPool(cfg, "text_game")
    results = pool.score(predictions, references)      # a RewardResult per prediction, in order

Each worker loads its verifier once (heavy state such as LPIPS stays in the worker) and is ready
before it gets its first batch, so a deadline counts scoring only, never a worker's start-up
(replacements too). Scoring never raises for a bad prediction, and never loses one; faults follow the
dispatcher's policy (core/dispatch.py):
- a verifier that raises gives the floor reward with the exception named; a batch scorer that raises
  is counted (`batch_failures`), logged, and the batch scored one sample at a time;
- a batch that does not finish within `timeout_s` is cut off and its worker replaced; its samples
  are scored again one per call, each with its own deadline, so only a sample that hangs alone gets
  the floor reward (error "timeout");
- a worker that dies is replaced and its batch scored again (scoring is idempotent), at most
  `max_attempts` times, then its samples get the floor reward (error "worker_died").
`timeouts`, `given_up` (samples floored for a fault: timeouts and workers that kept dying), `retried`
(samples scored again), `restarts` (workers replaced) and `batch_failures` count what happened. Workers are named `reward-<n>`; `resize` changes their count from the next call on.
"""

from __future__ import annotations

import logging

from core.actors import ActorGroup
from core.dispatch import DispatchedPool, Dispatcher, Unit
from rewards.config import RewardConfig
from rewards.registry import get_verifier
from rewards.types import RewardResult

log = logging.getLogger(__name__)


class RewardWorker:
    def __init__(self, verifier: str, threads: int = 1):
        import torch

        from core.actors import redirect_worker_output

        redirect_worker_output()
        torch.set_num_threads(threads)  # heavy verifiers (video: decoder + LPIPS) use what the worker reserved
        self.verifier = get_verifier(verifier)

    def ready(self) -> int:
        """The worker's process id, once its verifier is loaded."""
        import os

        return os.getpid()

    def score(self, predictions: list, references: list) -> tuple[list[RewardResult], str | None]:
        """(results, why the batch scorer failed or None): the batch in one verifier call when the
        verifier scores batches; one at a time otherwise, or when the batch call raised (so an exception
        floors only the sample that raises)."""
        batch_error = None
        if self.verifier.score_batch is not None:
            try:
                return self.verifier.score_batch(predictions, references), None
            except Exception as err:
                batch_error = f"{type(err).__name__}: {err}"[:300]
        out = []
        for prediction, reference in zip(predictions, references):
            try:
                out.append(self.verifier.score(prediction, reference))
            except Exception as err:  # a verifier bug must not lose the batch
                out.append(RewardResult(self.verifier.floor, {}, f"verifier_exception: {type(err).__name__}: {err}"[:300]))
        return out, batch_error


class RewardPool(DispatchedPool):
    def __init__(self, config: RewardConfig, verifier: str, role: str = "reward", start_timeout_s: float = 1800.0):
        self.cfg, self.verifier, self.role = config, verifier, role
        self.floor = get_verifier(verifier).floor
        self.group = ActorGroup(RewardWorker, role, config.shape(), start_timeout_s=start_timeout_s)
        self.threads = max(1, int(config.cpus))
        self.dispatcher = Dispatcher(self.group, timeout_s=config.timeout_s, max_attempts=config.max_attempts,
                                     launch=lambda: self._launch(1)[0], give_up=self._floor, split_hung=True)
        self.wanted = config.count  # the size the next `score` call starts with (`resize`)
        self.timeouts = 0  # samples given the floor reward because they hung alone
        self.batch_failures = 0  # batches the verifier's batch scorer failed on (scored one by one instead)
        self._serve_first(self._launch(config.count))

    def _launch(self, count: int) -> list[tuple]:
        return self.group.launch(count, lambda i: (self.verifier, self.threads))

    def _floor(self, unit: Unit, hung: bool) -> list[RewardResult]:
        error = "timeout" if hung else "worker_died"
        if hung:
            self.timeouts += unit.end - unit.start
        return [RewardResult(self.floor, {}, error) for _ in range(unit.start, unit.end)]

    def resize(self, num_workers: int) -> None:
        """Score with `num_workers` workers from the next `score` call on (the call in progress, in
        another thread, keeps its workers)."""
        if num_workers < 1:
            raise ValueError("the reward pool needs at least one worker")
        self.wanted = num_workers

    def _apply_size(self) -> None:
        """Between calls: leavers exit; joiners start and serve once ready (the call goes on meanwhile)."""
        while len(self.workers) > self.wanted:
            self.dispatcher.retire(self.workers[-1])
        missing = self.wanted - len(self.workers) - len(self.dispatcher.starting)
        for _ in range(max(0, missing)):
            self.dispatcher.start()

    def _unpack(self, reply: tuple[list[RewardResult], str | None]) -> list[RewardResult]:
        results, batch_error = reply
        if batch_error is not None:
            self.batch_failures += 1
            log.warning("the %s verifier's batch scorer failed (%s); that batch was scored one sample at a time (%d batches so far)",
                        self.verifier, batch_error, self.batch_failures)
        return results

    def score(self, predictions: list, references: list) -> list[RewardResult]:
        """Results in input order; at most one batch in flight per worker, each with its own deadline."""
        self._apply_size()
        job = self.dispatcher.submit("score", len(predictions), self.cfg.batch_size,
                                     lambda w, a, b: w.score.remote(predictions[a:b], references[a:b]), self._unpack)
        return self.dispatcher.collect(job)
