"""The rollout pool: `rollout.count` RolloutWorker actors; prompts are spread over them.

    pool = RolloutPool(model_path, cfg, seed=0)
    groups = pool.generate([Prompt(ids, seed=s) for ids, s in ...], n=8)     # a Group per Prompt, in order
    pool.load_weights(version, bucket_refs)                                   # every worker, versioned

Workers are independent of the learner (their count and resources come from RolloutConfig; actors
are named `rollout-<n>`). The pool can grow or shrink while a job runs (`request`, then
`admit_ready` between steps; services/ctl.py): a joiner starts in the background and loads the
current weights version before it serves (`bucket_refs`: the object-store copy of weights `version`;
with the collective transport, `weights_source` gives one on demand, see services/sync.py); a
joiner that fails to start (or to load the weights), or is not up within the start deadline, is
replaced by another, at most `rollout.max_attempts` in a row, then DispatchError names it; a
leaving worker gets no new prompts and exits after the call it is running.

Faults follow the dispatcher's policy (core/dispatch.py): a worker that dies, or whose call makes no
progress within `rollout.timeout_s` (counted from when an idle, ready worker got it), is killed and
replaced by a new actor that loads the current weights before it serves; its prompts go to the next
free worker, at most `rollout.max_attempts` times. Seeded prompts give the same samples on whichever
worker draws them, so a re-generated prompt is the prompt that was asked for.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from core.actors import ActorGroup
from core.dispatch import DispatchedPool, DispatchError, Dispatcher, Job
from core.protocol import Group, Prompt
from rollout.config import RolloutConfig, SamplingConfig
from rollout.worker import RolloutWorker

log = logging.getLogger(__name__)


@dataclass
class Joiner:
    """A worker started by `request` that does not serve yet."""

    handle: Any
    ready: Any  # the ref of its ready(): resolves once its engine is up
    attempt: int = 1  # how many joiners in a row this slot has started
    since: float = field(default_factory=time.monotonic)


class RolloutPool(DispatchedPool):
    def __init__(self, model_path: str, config: RolloutConfig, seed: int = 0, role: str = "rollout", start_timeout_s: float = 1800.0):
        self.cfg, self.model_path, self.seed, self.role = config, model_path, seed, role
        self.group = ActorGroup(RolloutWorker, role, config.shape(), start_timeout_s=start_timeout_s)
        self.dispatcher = Dispatcher(self.group, timeout_s=config.timeout_s, max_attempts=config.max_attempts, launch=self._launch_one, prepare=self._prepare)
        self.joining: list[Joiner] = []  # started by `request`, not serving until `admit_ready`
        self.join_failures = 0  # joiners that failed to start and were replaced
        self.version, self.bucket_refs = 0, []
        self.weights_source = None  # () -> object-store refs of the current weights, for joiners when bucket_refs is empty
        self.loaded: dict = {}  # worker handle -> the weights version it was given
        self.lock = threading.RLock()  # weights version and joiners: the pipeline thread and the learner's thread both use them
        self._started = 0
        self._serve_first(self._launch(config.count))

    @property
    def restarts(self) -> int:
        """Workers replaced: dead or hung serving workers, and joiners that could not start."""
        return self.dispatcher.restarts + self.join_failures

    # ---- membership ---------------------------------------------------------------------------

    def _launch(self, count: int) -> list[tuple]:
        """Start `count` workers without waiting (each with its own seed): [(handle, ready ref)]."""
        with self.lock:  # replacements start from the pipeline's thread, joiners from the main one
            first, self._started = self._started, self._started + count
        return self.group.launch(count, lambda i: (self.model_path, self.cfg.model_dump(), self.seed + 1000 * (first + i)))

    def _launch_one(self) -> tuple:
        return self._launch(1)[0]

    def _join(self, count: int, attempt: int = 1) -> list[Joiner]:
        return [Joiner(h, ready, attempt) for h, ready in self._launch(count)]

    def _current_weights(self) -> list:
        if self.version == 0 or self.bucket_refs:
            return self.bucket_refs
        if self.weights_source is None:
            raise RuntimeError("workers that join after a weights broadcast need an object-store copy: resize through services.sync.WeightSync")
        return self.weights_source()

    def _prepare(self, handle):
        """A started worker is up: the ref of loading the current weights into it, or None once it holds them."""
        with self.lock:
            version = self.version
            if self.loaded.get(handle, 0) == version:
                return None
            self.loaded[handle] = version
            refs = self._current_weights()
        return handle.load_weights.remote(version, refs)

    def request(self, num_workers: int) -> None:
        """Ask for `num_workers` serving workers without waiting: joiners start in the background and
        serve once `admit_ready` finds them up; leaving workers (the newest first; joiners before
        serving ones) get no new prompts and exit once the call they are running is done."""
        if num_workers < 1:
            raise ValueError("the rollout pool needs at least one worker")
        with self.lock:
            while len(self.workers) + len(self.joining) > num_workers and self.joining:
                self.group.kill(self.joining.pop().handle)
            while len(self.workers) > num_workers:
                self.dispatcher.retire(self.workers[-1])
            self.joining += self._join(num_workers - len(self.workers) - len(self.joining))

    def admit_ready(self, wait: bool = False) -> int:
        """Joiners whose engine is up (all of them, with `wait`) load the current weights and start
        serving; returns how many. A joiner that failed, or is not up within the start deadline, is
        replaced (see the module's docstring)."""
        import ray

        admitted = 0
        while True:
            with self.lock:
                refs = [j.ready for j in self.joining]
                ready = set(ray.wait(refs, num_returns=len(refs), timeout=0)[0]) if refs else set()
                late = time.monotonic() - self.group.start_timeout_s
                up = list(self.joining) if wait else [j for j in self.joining if j.ready in ready or j.since < late]
                self.joining = [j for j in self.joining if j not in up]
            if not up:
                return admitted
            handles = []
            try:
                while up:
                    joiner = up.pop(0)
                    who = self.group.describe(joiner.handle)  # before a failed start forgets its name
                    if not wait and joiner.ready not in ready:
                        self._rejoin(joiner, who, f"not up within {self.group.start_timeout_s:g} s")
                        continue
                    try:
                        (handle,) = self.group.wait([(joiner.handle, joiner.ready)], f"{self.role} worker joining")
                        while (more := self._prepare(handle)) is not None:
                            ray.get(more, timeout=self.group.start_timeout_s)
                        handles.append(handle)
                    except Exception as err:  # its start-up or loading the weights failed: another one takes the slot
                        self._rejoin(joiner, who, (str(err).strip().splitlines() or [type(err).__name__])[-1][:300])
            finally:  # also when a slot gives up: the joiners not looked at yet stay joining (shutdown stops them)
                self.dispatcher.add(handles)
                with self.lock:
                    self.joining += up
            admitted += len(handles)
            if not wait:
                return admitted

    def _rejoin(self, joiner: Joiner, who: str, why: str) -> None:
        self.group.kill(joiner.handle)
        with self.lock:
            self.loaded.pop(joiner.handle, None)
            self.join_failures += 1
            if joiner.attempt >= self.cfg.max_attempts:
                raise DispatchError(f"{self.role}: {joiner.attempt} workers in a row could not join the pool (the last, {who}, {why}); "
                                    f"the pool allows {self.cfg.max_attempts} attempts")
            log.warning("%s could not join the pool (%s): starting another", who, why)
            self.joining += self._join(1, joiner.attempt + 1)

    def resize(self, num_workers: int) -> None:
        """Grow or shrink to `num_workers` serving workers now (blocks while joiners start)."""
        self.request(num_workers)
        self.admit_ready(wait=True)

    # ---- generation ---------------------------------------------------------------------------

    def submit(self, prompts: list[Prompt], n: int, sampling: SamplingConfig | None = None) -> Job:
        """Start generating a Group for every prompt (see `collect`). Prompts are dealt to the workers in
        contiguous slices, one call per worker; `sampling` replaces the pool's sampling settings."""
        size = -(-len(prompts) // max(len(self.workers), 1))
        return self.dispatcher.submit("generate", len(prompts), size, lambda w, a, b: w.generate.remote(prompts[a:b], n, sampling))

    def collect(self, job: Job) -> list[Group]:
        """The groups of a `submit`, in prompt order, once every prompt has its group."""
        return self.dispatcher.collect(job)

    def generate(self, prompts: list[Prompt], n: int, sampling: SamplingConfig | None = None) -> list[Group]:
        """A Group for every prompt, in input order."""
        return self.collect(self.submit(prompts, n, sampling))

    # ---- weights ------------------------------------------------------------------------------

    def _set_version(self, version: int, bucket_refs: list) -> None:
        with self.lock:
            self.version, self.bucket_refs = version, bucket_refs
            for w in self.workers:
                self.loaded[w] = version

    def load_weights(self, version: int, bucket_refs: list) -> list[dict]:
        """Every worker loads weights `version` from the object store (after the call it is running, if
        any); the refs are kept for workers that join later."""
        self._set_version(version, bucket_refs)
        return self.dispatcher.on_every_worker(f"load weights v{version}", lambda w: w.load_weights.remote(version, bucket_refs), 2 * self.cfg.timeout_s)

    def load_folder(self, version: int, path: str) -> list[dict]:
        """Every worker loads the weights of a saved model folder (same architecture) as `version`."""
        return self.load_weights(version, _folder_refs(path))

    def hold_folder(self, path: str) -> None:
        """The workers hold the weights saved at `path` already: keep an object-store copy that the driver
        owns for replacements and joiners (the learner that sent them, and its copy, are going away)."""
        refs = _folder_refs(path)
        with self.lock:
            self.bucket_refs, self.weights_source = refs, None

    def join_weight_group(self, host: str, port: int, backend: str, timeout_s: float) -> list:
        """Futures of every worker joining the weight-broadcast group as ranks 1..N (learner rank 0 joins concurrently)."""
        world = len(self.workers) + 1
        return [w.join_weight_group.remote(host, port, i + 1, world, backend, timeout_s) for i, w in enumerate(self.workers)]

    def receive_weights(self, version: int, layout) -> list:
        """Futures of every worker receiving weights `version` over the group (learner rank 0 sends concurrently)."""
        self._set_version(version, [])
        return [w.receive_weights.remote(version, layout) for w in self.workers]

    def versions(self) -> list[int]:
        return self.dispatcher.on_every_worker("report its version", lambda w: w.get_version.remote(), 2 * self.cfg.timeout_s)

    def prompt_logprobs(self, sequences: list[tuple[list[int], list[int]]], worker=None) -> tuple[str, list[list[float]]]:
        """(which worker, its log-probs of each (prompt, response)) on one serving worker (the first by default)."""
        import ray

        worker = worker or self.workers[0]
        return self.group.describe(worker), ray.get(worker.prompt_logprobs.remote(sequences), timeout=2 * self.cfg.timeout_s)

    def shutdown(self) -> None:
        with self.lock:
            joining, self.joining = [j.handle for j in self.joining], []
        for h in joining:
            self.group.kill(h)
        self.dispatcher.shutdown()


def _folder_refs(path: str) -> list:
    """Object-store refs of a saved model folder's weights, in the wire format of core/weights.py."""
    import ray

    from core.weights import folder_tensors, to_buckets

    return [ray.put(b) for b in to_buckets(folder_tensors(path), 1 << 30)]
