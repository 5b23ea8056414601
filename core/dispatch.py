"""Fault-tolerant dispatch of one role's work over an elastic set of actors: the rollout pool and the
reward pool both run on it.

    d = Dispatcher(group, timeout_s=30, max_attempts=3, launch=lambda: group.launch(1, args)[0],
                   split_hung=True, give_up=floor)
    d.add(group.start(2, args))
    results = d.collect(d.submit("score", len(items), unit_size=64, call=lambda w, a, b: w.score.remote(items[a:b])))

A call's items are cut into units (contiguous slices). The policy, the same for every pool:
- a worker runs at most one unit at a time, so a unit's deadline (`timeout_s`) runs from when a ready,
  idle worker took it, never from a queue or an actor's start-up;
- a worker that dies, or whose unit passes its deadline, is killed and replaced: the replacement
  starts in the background (outside any lock) and serves once ready (`prepare` may give it more to do
  first, e.g. load the current weights); meanwhile its unit goes to the next free worker;
- a unit is tried on at most `max_attempts` workers; with `split_hung`, a hung unit of several items is
  first cut into single items (to find the one that hangs, without counting an attempt), and a single
  item that hangs is given up at once;
- a unit given up goes to `give_up(unit, hung)`, which returns its results (e.g. the floor reward) or
  None, and then DispatchError names the role, the worker, what it was doing and why;
- a replacement that cannot start `max_attempts` times in a row raises DispatchError too.
`restarts` counts replaced workers, `retried` items done again, `given_up` items given up.
Several jobs may be queued at once (submitted back to back); whichever thread collects runs them all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from core.actors import ActorGroup

log = logging.getLogger(__name__)


class DispatchError(RuntimeError):
    """Work that could not be done within the attempts the policy allows; the message names who and what."""


@dataclass
class Job:
    """One call's items, their results as they arrive."""

    what: str  # what the workers are asked to do, for messages ("generate", "score")
    call: Callable[[Any, int, int], Any]  # (worker, start, end) -> ref of the end - start results
    results: list
    left: int  # items without a result yet
    unpack: Callable[[Any], list] = list  # a worker's reply -> the results of its unit
    error: BaseException | None = None  # why the job cannot finish (raised by `collect`, in whichever thread collects it)


@dataclass
class Unit:
    job: Job
    start: int
    end: int
    attempt: int = 1

    def describe(self) -> str:
        items = f"item {self.start}" if self.end - self.start == 1 else f"items {self.start}..{self.end - 1}"
        return f"{self.job.what} of {items} (attempt {self.attempt})"


@dataclass
class _Starting:
    handle: Any
    since: float
    attempt: int = 1


@dataclass
class _Running:
    unit: Unit
    worker: Any
    since: float = field(default_factory=time.monotonic)


class Dispatcher:
    def __init__(self, group: ActorGroup, *, timeout_s: float, max_attempts: int, launch: Callable[[], tuple[Any, Any]],
                 prepare: Callable[[Any], Any] | None = None, give_up: Callable[[Unit, bool], list | None] | None = None,
                 split_hung: bool = False):
        """`launch()` starts one replacement: (handle, ref resolved when its start-up is done).
        `prepare(handle)` (optional) runs when a started worker is up: a ref of more start-up work to
        wait for, or None when it may serve."""
        self.group, self.role = group, group.role
        self.timeout_s, self.max_attempts, self.split_hung = timeout_s, max_attempts, split_hung
        self.launch, self.prepare, self.give_up = launch, prepare, give_up
        self.workers: list = []  # serving, idle or busy
        self.busy: set = set()
        self.queue: deque[Unit] = deque()
        self.running: dict[Any, _Running] = {}  # ref -> the unit it computes
        self.starting: dict[Any, _Starting] = {}  # ref -> the replacement whose start-up it is
        self.lock = threading.RLock()
        self.restarts = self.retried = self.given_up = 0

    # ---- membership --------------------------------------------------------------------------

    def add(self, handles: list) -> None:
        """Ready workers serve from now on."""
        with self.lock:
            self.workers += [h for h in handles if h not in self.workers]

    def retire(self, handle) -> None:
        """`handle` gets no new work and exits after the unit it runs (if any)."""
        with self.lock:
            if handle in self.workers:
                self.workers.remove(handle)
        handle.__ray_terminate__.remote()  # queued behind its running call (an actor runs one call at a time)
        self.group.forget(handle)

    def replace(self, handle, why: str) -> None:
        """Kill `handle` (dead or hung) and start a replacement in the background; a no-op when another
        thread replaced it already."""
        with self.lock:
            if handle not in self.workers:
                return
            self.workers.remove(handle)
            self.busy.discard(handle)
            self.restarts += 1
        log.warning("%s %s: replacing it", self.group.describe(handle), why)
        self.group.kill(handle)
        self.start(1)

    def start(self, attempt: int = 1) -> None:
        """Start one more worker in the background: it serves once ready (and prepared)."""
        handle, ref = self.launch()
        with self.lock:
            self.starting[ref] = _Starting(handle, time.monotonic(), attempt)

    def settle(self) -> None:
        """Wait until every replacement that is starting serves (or raise, see the policy)."""
        while self.starting:
            self._step(lambda: not self.starting)

    def shutdown(self) -> None:
        with self.lock:
            handles = self.workers + [s.handle for s in self.starting.values()]
            self.workers, self.starting, self.running, self.queue = [], {}, {}, deque()
            self.busy = set()
        for h in handles:
            self.group.kill(h)

    # ---- work --------------------------------------------------------------------------------

    def submit(self, what: str, count: int, unit_size: int, call: Callable[[Any, int, int], Any], unpack: Callable[[Any], list] = list) -> Job:
        """Queue `count` items in units of at most `unit_size`, starting them on idle workers now;
        `unpack(reply)` turns a worker's reply into its unit's results."""
        job = Job(what, call, [None] * count, count, unpack)
        with self.lock:
            self.queue += [Unit(job, a, min(a + unit_size, count)) for a in range(0, count, max(1, unit_size))]
            self._dispatch()
        return job

    def collect(self, job: Job) -> list:
        """The job's results in item order, once every item has one (running the queue meanwhile)."""
        while job.left > 0 and job.error is None:
            self._step(lambda: job.left <= 0 or job.error is not None)
        if job.error is not None:
            raise job.error
        return job.results

    def _dispatch(self) -> None:
        """Idle workers take queued units (call under the lock)."""
        idle = [w for w in self.workers if w not in self.busy]
        while self.queue and idle:
            unit = self.queue.popleft()
            if unit.job.error is not None:  # its job failed: nobody waits for it
                continue
            worker = idle.pop(0)
            ref = unit.job.call(worker, unit.start, unit.end)
            self.running[ref] = _Running(unit, worker)
            self.busy.add(worker)

    def _step(self, done: Callable[[], bool]) -> None:
        """Wait for the next result or deadline and act on it."""
        import ray

        with self.lock:
            self._dispatch()
            if done():
                return
            refs = list(self.running) + list(self.starting)
            if not refs:
                raise DispatchError(f"{self.role}: no worker left to run the queued work ({len(self.queue)} units waiting)")
            deadlines = [r.since + self.timeout_s for r in self.running.values()] + [s.since + self.group.start_timeout_s for s in self.starting.values()]
        ray.wait(refs, num_returns=1, timeout=max(0.0, min(deadlines) - time.monotonic()))
        ready, pending = ray.wait(refs, num_returns=len(refs), timeout=0)
        now = time.monotonic()  # deadlines are judged before any replacement below takes time
        for ref in ready:
            self._finished(ref)
        for ref in pending:
            with self.lock:
                run, start = self.running.get(ref), self.starting.get(ref)
            if run is not None and now - run.since >= self.timeout_s:
                self._failed(ref, f"made no progress in {self.timeout_s:g} s", hung=True)
            elif start is not None and now - start.since >= self.group.start_timeout_s:
                self._start_failed(ref, f"did not start within {self.group.start_timeout_s:g} s")

    def _finished(self, ref) -> None:
        import ray
        from ray.exceptions import RayActorError

        with self.lock:
            is_start = ref in self.starting
        if is_start:
            try:
                value = ray.get(ref)
            except Exception as err:  # an actor that dies in its constructor or start-up work
                self._start_failed(ref, f"failed to start ({type(err).__name__})")
                return
            with self.lock:
                start = self.starting.pop(ref, None)
            if start is None:
                return
            if isinstance(value, int):  # `ready()` answers with the process id
                self.group.pids.setdefault(start.handle, value)
            try:
                more = self.prepare(start.handle) if self.prepare else None
            except Exception:  # what it started, its failure stops
                self.group.kill(start.handle)
                raise
            with self.lock:
                if more is not None:
                    self.starting[more] = start
                else:
                    self.workers.append(start.handle)
                    log.info("%s serves", self.group.describe(start.handle))
            return
        try:
            values = ray.get(ref)
        except RayActorError:
            self._failed(ref, "died", hung=False)
            return
        except Exception as err:  # the work itself raised (a bug, bad input): no retry, the job's collector gets the error
            with self.lock:
                run = self.running.pop(ref, None)
                if run is not None:
                    self.busy.discard(run.worker)
                    run.unit.job.error = err
            return
        with self.lock:
            run = self.running.pop(ref, None)
            if run is None:
                return
            self.busy.discard(run.worker)
            job = run.unit.job
            job.results[run.unit.start : run.unit.end] = job.unpack(values)
            job.left -= run.unit.end - run.unit.start
            self._dispatch()

    def _failed(self, ref, why: str, hung: bool) -> None:
        with self.lock:
            run = self.running.pop(ref, None)
        if run is None:
            return
        unit, who = run.unit, self.group.describe(run.worker)
        self.replace(run.worker, why)
        size = unit.end - unit.start
        if hung and self.split_hung and size > 1:  # find the item that hangs: the others are done again one per call
            again = [Unit(unit.job, i, i + 1, unit.attempt) for i in range(unit.start, unit.end)]
        elif hung and self.split_hung or unit.attempt >= self.max_attempts:
            self._give_up(unit, who, why, hung)
            return
        else:
            again = [Unit(unit.job, unit.start, unit.end, unit.attempt + 1)]
        with self.lock:
            self.queue += again
            self.retried += size
            self._dispatch()

    def _give_up(self, unit: Unit, who: str, why: str, hung: bool) -> None:
        results = self.give_up(unit, hung) if self.give_up else None
        if results is None:
            unit.job.error = DispatchError(f"{self.role}: {unit.describe()} failed on {unit.attempt} workers (the last, {who}, {why}); "
                                           f"the pool allows {self.max_attempts} attempts")
            return
        with self.lock:
            unit.job.results[unit.start : unit.end] = results
            unit.job.left -= unit.end - unit.start
            self.given_up += unit.end - unit.start

    def _start_failed(self, ref, why: str) -> None:
        with self.lock:
            start = self.starting.pop(ref, None)
        if start is None:
            return
        self.group.kill(start.handle)
        if start.attempt >= self.max_attempts:
            raise DispatchError(f"{self.role}: {start.attempt} replacement workers in a row could not start (the last, "
                                f"{self.group.describe(start.handle)}, {why})")
        log.warning("%s replacement %s: starting another", self.role, why)
        self.start(start.attempt + 1)

    # ---- calls on every worker ---------------------------------------------------------------

    def on_every_worker(self, what: str, call: Callable[[Any], Any], timeout_s: float) -> list:
        """`call(worker)` -> ref on every serving worker at once; results in worker order. A worker that
        dies, or does not answer within `timeout_s`, is replaced and the call made again on the
        replacement (at most `max_attempts` rounds); then DispatchError names the worker."""
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError

        for attempt in range(1, self.max_attempts + 1):
            self.settle()
            with self.lock:
                workers = list(self.workers)
            refs = [call(w) for w in workers]
            deadline = time.monotonic() + timeout_s
            results, failed = [], []
            for worker, ref in zip(workers, refs):
                try:
                    results.append(ray.get(ref, timeout=max(0.0, deadline - time.monotonic())))
                except (RayActorError, GetTimeoutError) as err:
                    why = "died" if isinstance(err, RayActorError) else f"did not answer {what} within {timeout_s:g} s"
                    failed.append((self.group.describe(worker), why))
                    self.replace(worker, why)
            if not failed:
                return results
        raise DispatchError(f"{self.role}: {what} failed on every attempt ({self.max_attempts}); the last: "
                            + "; ".join(f"{who} {why}" for who, why in failed))


class DispatchedPool:
    """What a pool of workers on a Dispatcher shows its users: its serving workers, their process ids,
    and what its dispatcher counted (workers replaced, items done again)."""

    dispatcher: Dispatcher

    @property
    def workers(self) -> list:
        return self.dispatcher.workers

    @property
    def pids(self) -> dict:
        return self.dispatcher.group.pids

    @property
    def restarts(self) -> int:
        return self.dispatcher.restarts

    @property
    def retried(self) -> int:
        return self.dispatcher.retried

    @property
    def given_up(self) -> int:
        return self.dispatcher.given_up

    def _serve_first(self, launched: list[tuple]) -> None:
        """The pool's first workers, ready, serve; a start that fails stops everything the pool started."""
        try:
            self.dispatcher.add(self.dispatcher.group.wait(launched, f"{self.dispatcher.role} workers"))
        except BaseException:
            self.shutdown()
            raise

    def shutdown(self) -> None:
        self.dispatcher.shutdown()
