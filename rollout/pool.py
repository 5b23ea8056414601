"""The rollout pool: `num_workers` RolloutWorker actors; prompts are spread over them.

Workers are independent of the learner (their count and resources come from RolloutConfig; actors
are named `rollout-<n>`). The pool can grow or shrink while a job runs (`request`, then
`admit_ready` between steps; services/ctl.py): a joiner starts in the background and loads the
current weights version before it serves (`bucket_refs`: the object-store copy of weights `version`;
with the collective transport, `weights_source` gives one on demand, see services/sync.py); a
leaving worker gets no new prompts and exits after the call it is running.

Faults: a worker that dies, or whose call makes no progress within `rollout.timeout_s` (counted from
when an idle, ready worker got it), is killed and replaced by a new actor that loads the current
weights before it serves; its unfinished prompts go to the next free worker. Seeded prompts
(`seeds`) give the same samples on whichever worker draws them, so a re-generated prompt is the
prompt that was asked for. `restarts` and `retried_prompts` count what happened.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import ray
from ray.exceptions import GetTimeoutError, RayActorError

from rollout.config import RolloutConfig
from rollout.worker import RolloutWorker

MAX_ATTEMPTS = 3  # a slice of prompts whose workers keep dying this often ends the call with an error


@dataclass
class Generation:
    """A submitted call: every prompt's group once it is collected; slices wait for a free worker."""

    prompts: list[list[int]]
    n: int
    sampling: dict | None
    plans: list[dict] | None
    seeds: list[int] | None
    groups: list = field(default_factory=list)
    queue: list[tuple[int, int, int]] = field(default_factory=list)  # (start, end, attempt)
    in_flight: dict = field(default_factory=dict)  # ref -> (start, end, attempt, worker handle, started at)


class RolloutPool:
    def __init__(self, model_path: str, config: RolloutConfig, seed: int = 0, role: str = "rollout"):
        from services.resources import ray_options, shape

        self.cfg, self.model_path, self.seed, self.role = config, model_path, seed, role
        self.actor = ray.remote(**ray_options(config.cpus_per_worker, config.gpus_per_worker, config.resources))(RolloutWorker)
        self.shape = shape(config.cpus_per_worker, config.gpus_per_worker, config.resources)
        self.workers: list = []  # serving: they get prompts and every weights version
        self.joining: list = []  # (handle, ready future): started by `request`, not serving until `admit`
        self.pids: dict = {}  # worker handle -> process id
        self.version, self.bucket_refs = 0, []
        self.weights_source = None  # () -> object-store refs of the current weights, for joiners when bucket_refs is empty
        self.restarts = 0  # workers replaced after dying or hanging
        self.retried_prompts = 0  # prompts generated again because their worker failed
        self.lock = threading.RLock()  # the pipeline thread and the learner's thread both use the pool
        self._started = 0
        self.resize(config.num_workers)

    # ---- membership ---------------------------------------------------------------------------

    def _current_weights(self) -> list:
        if self.version == 0 or self.bucket_refs:
            return self.bucket_refs
        if self.weights_source is None:
            raise RuntimeError("workers that join after a weights broadcast need an object-store copy: resize through services.sync.WeightSync")
        return self.weights_source()

    def _launch(self, count: int) -> list[tuple]:
        """Start `count` actors, named `<role>-<n>` (the dashboard's actor view); returns (handle, ready future)."""
        from services.resources import actor_name

        new = []
        for _ in range(count):
            index, self._started = self._started, self._started + 1
            worker = self.actor.options(name=actor_name(self.role)).remote(self.model_path, self.cfg.model_dump(), self.seed + 1000 * index)
            new.append((worker, worker.ready.remote()))
        return new

    def _admit(self, launched: list[tuple]) -> list:
        """Wait for launched workers' engines, load the current weights version into them, and return
        them (the caller makes them serve)."""
        from services.resources import wait_ready

        handles = [w for w, _ in launched]
        pids = wait_ready(handles, [ref for _, ref in launched], f"{self.role} workers", self.shape)
        if self.version > 0:
            refs = self._current_weights()
            ray.get([w.load_weights.remote(self.version, refs) for w in handles])
        self.pids.update(zip(handles, pids))
        return handles

    def _start(self, count: int) -> list:
        """`count` new workers, each up (engine built) and holding the current weights version."""
        return self._admit(self._launch(count))

    def resize(self, num_workers: int) -> None:
        """Grow or shrink to `num_workers` serving workers now (blocks while joiners start)."""
        self.request(num_workers)
        with self.lock:
            self.workers += self._admit(self.joining)
            self.joining = []

    def request(self, num_workers: int) -> None:
        """Ask for `num_workers` serving workers without waiting: joiners start in the background and
        serve once `admit_ready` finds them up; leaving workers (the newest first; joiners before
        serving ones) get no new prompts and exit once the call they are running is done."""
        if num_workers < 1:
            raise ValueError("the rollout pool needs at least one worker")
        with self.lock:
            while len(self.workers) + len(self.joining) > num_workers and self.joining:
                self._kill(self.joining.pop()[0])
            while len(self.workers) > num_workers:
                leaving = self.workers.pop()
                self.pids.pop(leaving, None)
                leaving.__ray_terminate__.remote()  # queued behind its running call (the actor runs one call at a time)
            self.joining += self._launch(num_workers - len(self.workers) - len(self.joining))

    def admit_ready(self) -> int:
        """Joiners whose engine is up load the current weights and start serving; returns how many."""
        with self.lock:
            if not self.joining:
                return 0
            ready, _ = ray.wait([ref for _, ref in self.joining], num_returns=len(self.joining), timeout=0)
            up = [j for j in self.joining if j[1] in ready]
            self.joining = [j for j in self.joining if j[1] not in ready]
            self.workers += self._admit(up)
            return len(up)

    def _kill(self, worker) -> None:
        ray.kill(worker, no_restart=True)
        self.pids.pop(worker, None)

    def replace(self, worker) -> object:
        """Kill `worker` (dead or hung) and put a new one, holding the current weights, in its place;
        returns the replacement, or None when `worker` is no longer in the pool (another thread replaced it)."""
        with self.lock:
            if worker not in self.workers:
                return None
            index = self.workers.index(worker)
            self._kill(worker)
            self.workers[index] = self._start(1)[0]
            self.restarts += 1
            return self.workers[index]

    # ---- generation ---------------------------------------------------------------------------

    def submit(self, prompts: list[list[int]], n: int, sampling: dict | None = None, plans: list[dict] | None = None,
               seeds: list[int] | None = None) -> Generation:
        """Start generating groups for every prompt (see `collect`). Prompts (with their plans and seeds)
        are dealt to the workers in contiguous slices, one call per worker."""
        gen = Generation(prompts, n, sampling, plans, seeds, groups=[None] * len(prompts))
        size = max(1, -(-len(prompts) // max(len(self.workers), 1)))
        gen.queue = [(start, min(start + size, len(prompts)), 1) for start in range(0, len(prompts), size)]
        self._dispatch(gen, list(self.workers))
        return gen

    def _dispatch(self, gen: Generation, idle: list) -> None:
        while gen.queue and idle:
            start, end, attempt = gen.queue.pop(0)
            worker = idle.pop(0)
            sl = slice(start, end)
            ref = worker.generate.remote(gen.prompts[sl], gen.n, gen.sampling, gen.plans[sl] if gen.plans else None,
                                         gen.seeds[sl] if gen.seeds else None)
            gen.in_flight[ref] = (start, end, attempt, worker, time.monotonic())

    def collect(self, gen: Generation) -> list[dict]:
        """The groups of a `submit`, in prompt order, once every prompt has its group: slices of workers
        that died or hung are generated again on the others (or their replacements)."""
        while gen.in_flight or gen.queue:
            if gen.in_flight:
                oldest = min(t for *_, t in gen.in_flight.values())
                ray.wait(list(gen.in_flight), num_returns=1, timeout=max(0.0, oldest + self.cfg.timeout_s - time.monotonic()))
            ready, pending = ray.wait(list(gen.in_flight), num_returns=len(gen.in_flight), timeout=0) if gen.in_flight else ([], [])
            now = time.monotonic()  # deadlines are judged before any replacement below blocks this loop
            hung = [ref for ref in pending if now - gen.in_flight[ref][4] >= self.cfg.timeout_s]
            idle = []
            for ref in ready:
                start, end, attempt, worker, _ = gen.in_flight.pop(ref)
                try:
                    gen.groups[start:end] = ray.get(ref)
                    idle.append(worker)
                except RayActorError:
                    idle.append(self._retry(gen, start, end, attempt, worker, "died"))
            for ref in hung:
                start, end, attempt, worker, _ = gen.in_flight.pop(ref)
                idle.append(self._retry(gen, start, end, attempt, worker, f"made no progress in {self.cfg.timeout_s:g} s"))
            busy = {w for *_, w, _ in gen.in_flight.values()}
            self._dispatch(gen, [w for w in dict.fromkeys(idle) if w is not None and w in self.workers and w not in busy])
            if gen.queue and not gen.in_flight:  # the workers we knew were replaced meanwhile: use the current ones
                self._dispatch(gen, list(self.workers))
        return gen.groups

    def _retry(self, gen: Generation, start: int, end: int, attempt: int, worker, why: str):
        if attempt >= MAX_ATTEMPTS:
            raise RuntimeError(f"rollout: prompts {start}..{end - 1} failed on {attempt} workers in a row (last: worker {why})")
        print(f"rollout worker (pid {self.pids.get(worker)}) {why}: replacing it; its {end - start} prompts go to the next free worker", flush=True)
        gen.queue.append((start, end, attempt + 1))
        self.retried_prompts += end - start
        return self.replace(worker) or None

    def generate(self, prompts: list[list[int]], n: int, sampling: dict | None = None, plans: list[dict] | None = None,
                 seeds: list[int] | None = None) -> list[dict]:
        """Groups for every prompt, in input order."""
        return self.collect(self.submit(prompts, n, sampling, plans, seeds))

    # ---- weights ------------------------------------------------------------------------------

    def _on_every_worker(self, call) -> list:
        """`call(worker)` -> future, on every current worker at once; results in worker order. A worker
        that dies or does not answer within twice `timeout_s` (a call may first wait for the generation
        it runs) is replaced, and the replacement (which loads the current weights itself) called."""
        workers = list(self.workers)
        refs = [call(w) for w in workers]
        results = []
        for i, (worker, ref) in enumerate(zip(workers, refs)):
            while True:
                try:
                    results.append(ray.get(ref, timeout=2 * self.cfg.timeout_s))
                    break
                except (RayActorError, GetTimeoutError) as err:
                    print(f"rollout worker (pid {self.pids.get(worker)}) {'died' if isinstance(err, RayActorError) else 'hung'}: replacing it", flush=True)
                    worker = self.replace(worker) or self.workers[i]
                    ref = call(worker)
        return results

    def load_weights(self, version: int, bucket_refs: list) -> list[dict]:
        """Every worker loads weights `version` from the object store; the refs are kept for workers that join later."""
        with self.lock:
            self.version, self.bucket_refs = version, bucket_refs
        return self._on_every_worker(lambda w: w.load_weights.remote(version, bucket_refs))

    def join_weight_group(self, host: str, port: int, backend: str) -> list:
        """Futures of every worker joining the weight-broadcast group as ranks 1..N (learner rank 0 joins concurrently)."""
        world = len(self.workers) + 1
        return [w.join_weight_group.remote(host, port, i + 1, world, backend) for i, w in enumerate(self.workers)]

    def receive_weights(self, version: int, layout) -> list:
        """Futures of every worker receiving weights `version` over the group (learner rank 0 sends concurrently)."""
        with self.lock:
            self.version, self.bucket_refs = version, []
        return [w.receive_weights.remote(version, layout) for w in self.workers]

    def versions(self) -> list[int]:
        return self._on_every_worker(lambda w: w.get_version.remote())

    def shutdown(self) -> None:
        with self.lock:
            for w in self.workers + [j[0] for j in self.joining]:
                self._kill(w)
            self.workers, self.joining = [], []

