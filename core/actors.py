"""The actors of every role: their resources, names, output, start-up with a deadline, gang placement.

    group = ActorGroup(RolloutWorker, "rollout", Shape(cpus=1), start_timeout_s=1800)
    workers = group.start(2, args=lambda i: (model_path, cfg, seed + i))   # rollout-0, rollout-1, ready
    ranks = ActorGroup(LearnerRank, "learner", Shape(1), gang=True).start(2, args=...)  # one placement group, PACK

A started actor is ready: its `ready()` call (or the call given as `ready`) returned. While actors wait to
be placed (an autoscaler adding nodes, other jobs holding the resources) the wait says on the console
what they wait for; a start that does not finish within `start_timeout_s` fails with ActorStartError
naming the actors, and every actor (and placement group) that start made is stopped first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

PENDING_NOTE_S = 20.0  # actors not up after this long are reported as waiting, then every PENDING_REPEAT_S
PENDING_REPEAT_S = 60.0
WORKER_LOG_ENV = "RLVR_WORKER_LOG_DIR"  # set in the driver: the job's actors write their output to files there


class ActorStartError(RuntimeError):
    """Actors that did not start (died in their constructor, or not ready within the deadline); the message names them."""


@dataclass(frozen=True)
class Shape:
    """What one actor asks the cluster for."""

    cpus: float
    gpus: float = 0.0
    custom: dict[str, float] = field(default_factory=dict)  # e.g. {"rollout_slot": 1}: only nodes that provide it

    def resources(self) -> dict[str, float]:
        """The Ray resources of one actor (zero amounts dropped)."""
        return {k: float(v) for k, v in {"CPU": self.cpus, "GPU": self.gpus, **self.custom}.items() if v}

    def options(self) -> dict:
        """Keyword arguments of ray.remote for an actor of this shape (and the job's worker-output setting)."""
        return {"num_cpus": self.cpus, "num_gpus": self.gpus, **({"resources": dict(self.custom)} if self.custom else {}), **worker_runtime_env()}


class PoolConfig(BaseModel):
    """One actor pool's size and what each of its actors asks for: the same shape for the rollout
    workers, the reward workers and the learner ranks (each role's config extends it)."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(1, ge=1, description="Actors in the pool")
    cpus: float = Field(1.0, gt=0.0, description="Ray CPUs reserved per actor")
    gpus: float = Field(0.0, ge=0.0, description="Ray GPUs reserved per actor (0 on CPU machines)")
    resources: dict[str, float] = Field(default_factory=dict, description="Custom Ray resources per actor, e.g. {rollout_slot: 1}: actors go only to nodes that provide them (the worker groups in deploy/)")

    def shape(self) -> Shape:
        return Shape(self.cpus, self.gpus, dict(self.resources))


_NAMES: dict[str, int] = {}


def actor_name(role: str) -> str:
    """`<role>-<n>`, n counting the actors of that role this process started: names stay unique in
    the job's namespace across replacements and stages, and the dashboard's actor view reads as the
    architecture (learner-0, rollout-0, rollout-1, reward-0, ...)."""
    index = _NAMES.get(role, 0)
    _NAMES[role] = index + 1
    return f"{role}-{index}"


def worker_runtime_env() -> dict:
    """The runtime_env option of the job's actors: where their output goes (when the driver set it)."""
    log_dir = os.environ.get(WORKER_LOG_ENV)
    return {"runtime_env": {"env_vars": {WORKER_LOG_ENV: log_dir}}} if log_dir else {}


def redirect_worker_output() -> None:
    """In an actor: send this process's stdout and stderr (vLLM, DeepSpeed, torch, its C++ parts) to
    `<log dir>/<actor name>.log` when the job asked for it (run.worker_logs=file), so the console
    keeps the job's own progress and warnings. A directory that cannot be written keeps the output."""
    log_dir = os.environ.get(WORKER_LOG_ENV)
    if not log_dir:
        return
    import ray

    name = ray.get_runtime_context().get_actor_name() or f"worker-{os.getpid()}"
    try:
        os.makedirs(log_dir, exist_ok=True)
        fd = os.open(os.path.join(log_dir, f"{name}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError as err:
        print(f"worker output stays in Ray's logs: cannot write {log_dir} ({err.strerror})", file=sys.stderr)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


@contextlib.contextmanager
def worker_logs_in(log_dir, enabled: bool = True):
    """While the job runs, its actors' output goes to files in `log_dir` (see redirect_worker_output)."""
    if not enabled:
        yield
        return
    previous = os.environ.get(WORKER_LOG_ENV)
    os.environ[WORKER_LOG_ENV] = str(log_dir)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(WORKER_LOG_ENV, None)
        else:
            os.environ[WORKER_LOG_ENV] = previous


def _unplaced(actors: list) -> int:
    """How many of `actors` Ray has not placed yet (no node with their resources free)."""
    from ray._private.state import state

    try:
        return sum(state.actor_table(a._actor_id.hex()).get("State") in ("PENDING_CREATION", "DEPENDENCIES_UNREADY") for a in actors)
    except Exception:  # the GCS table is an internal API: never let reporting stop a start-up
        return 0


def _report_waiting(waited: float, unplaced: int, count: int, what: str, need: dict[str, float]) -> None:
    import ray

    free, total = ray.available_resources(), ray.cluster_resources()
    show = ", ".join(f"{k} {free.get(k, 0):g} free of {total.get(k, 0):g}" for k in need)
    print(f"waiting {waited:.0f} s for resources: {unplaced} of {count} {what} not placed yet (each needs "
          f"{', '.join(f'{v:g} {k}' for k, v in need.items())}; cluster: {show})", file=sys.stderr, flush=True)


def wait_ready(actors: list, refs: list, what: str, need: dict[str, float], timeout_s: float | None = None, labels: list[str] | None = None) -> list:
    """ray.get(refs) of the start-up calls of `actors`; while some of them wait to be placed, say what
    they wait for (their shape, the cluster's free and total resources), after PENDING_NOTE_S and then
    every PENDING_REPEAT_S. Past `timeout_s`: ActorStartError naming (by `labels`) the actors not ready."""
    import ray

    start, noted = time.monotonic(), None
    pending = list(refs)
    while pending:
        _, pending = ray.wait(pending, num_returns=len(pending), timeout=5.0)
        waited = time.monotonic() - start
        if pending and timeout_s is not None and waited >= timeout_s:
            late = [refs.index(r) for r in pending]
            raise ActorStartError(f"{what}: {len(late)} of {len(actors)} not ready after {timeout_s:g} s "
                                  f"({', '.join(labels[i] if labels else str(i) for i in late)}; "
                                  f"{_unplaced([actors[i] for i in late])} of them not placed for lack of resources)")
        if not pending or waited < PENDING_NOTE_S or (noted is not None and waited - noted < PENDING_REPEAT_S):
            continue
        unplaced = _unplaced(actors)
        if unplaced:
            noted = waited
            _report_waiting(waited, unplaced, len(actors), what, need)
    return ray.get(list(refs))


class ActorGroup:
    """Actors of one class, role and shape, named `<role>-<n>` (the dashboard's actor view).

    `gang=True` places all of a `start` at once in one placement group (PACK: on as few nodes as fit),
    created before any actor starts: a DeepSpeed world is placed whole or waits whole, never half.
    Elastic groups (the rollout and reward pools) place actors one by one, so they can be replaced,
    added and removed. `names[handle]` is the actor's name, `pids[handle]` its process id once ready.
    """

    def __init__(self, cls: type, role: str, shape: Shape, *, gang: bool = False, start_timeout_s: float = 1800.0):
        import ray

        self.role, self.shape, self.gang, self.start_timeout_s = role, shape, gang, start_timeout_s
        self.actor = ray.remote(**shape.options())(cls)
        self.names: dict[Any, str] = {}
        self.pids: dict[Any, int] = {}
        self.placement = None  # the gang's placement group

    def launch(self, count: int, args: Callable[[int], tuple]) -> list[tuple[Any, Any]]:
        """Start `count` actors without waiting: [(handle, the ref of its `ready()`, which resolves to its
        process id once it is up)]. `args(i)` gives the i-th actor's constructor arguments."""
        options: list[dict] = [{} for _ in range(count)]
        if self.gang:
            options = self._place(count)
        launched = []
        for i in range(count):
            name = actor_name(self.role)
            handle = self.actor.options(name=name, **options[i]).remote(*args(i))
            self.names[handle] = name
            launched.append((handle, handle.ready.remote()))
        return launched

    def wait(self, launched: list[tuple[Any, Any]], what: str | None = None) -> list:
        """Wait (with the start deadline) for launched actors to be ready; returns their handles. On
        failure every one of them is stopped before the error is raised."""
        from ray.exceptions import RayActorError, RayTaskError

        handles = [h for h, _ in launched]
        try:
            values = wait_ready(handles, [r for _, r in launched], what or f"{self.role} actors", self.shape.resources(), self.start_timeout_s,
                                [self.names.get(h, self.role) for h in handles])
        except (RayActorError, RayTaskError) as err:
            for h in handles:
                self.kill(h)
            raise ActorStartError(f"{what or self.role + ' actors'}: an actor failed to start: {str(err).strip().splitlines()[-1][:400]}") from err
        except BaseException:
            for h in handles:
                self.kill(h)
            raise
        for h, v in zip(handles, values):
            if isinstance(v, int):
                self.pids[h] = v
        return handles

    def start(self, count: int, args: Callable[[int], tuple], what: str | None = None) -> list:
        """`count` new actors, ready (see launch / wait)."""
        return self.wait(self.launch(count, args), what)

    def _place(self, count: int) -> list[dict]:
        """A placement group of `count` bundles of this shape (PACK), waited for with the start deadline."""
        import ray
        from ray.util.placement_group import placement_group, remove_placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        self.remove_placement()
        need = self.shape.resources()
        pg = placement_group([dict(need) for _ in range(count)], strategy="PACK")
        start, noted = time.monotonic(), None
        while True:
            ready, _ = ray.wait([pg.ready()], timeout=5.0)
            if ready:
                break
            waited = time.monotonic() - start
            if waited >= self.start_timeout_s:
                remove_placement_group(pg)
                raise ActorStartError(f"{self.role}: the {count} actors (each {need}) could not be placed together within {self.start_timeout_s:g} s")
            if waited >= PENDING_NOTE_S and (noted is None or waited - noted >= PENDING_REPEAT_S):
                noted = waited
                _report_waiting(waited, count, count, f"{self.role} actors (placed together)", need)
        self.placement = pg
        return [{"scheduling_strategy": PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=i)} for i in range(count)]

    def remove_placement(self) -> None:
        if self.placement is not None:
            from ray.util.placement_group import remove_placement_group

            remove_placement_group(self.placement)
            self.placement = None

    def kill(self, handle) -> None:
        import ray

        with contextlib.suppress(Exception):
            ray.kill(handle, no_restart=True)
        self.forget(handle)

    def forget(self, handle) -> None:
        """Drop `handle`'s name and process id (it exits or was killed)."""
        self.names.pop(handle, None)
        self.pids.pop(handle, None)

    def describe(self, handle) -> str:
        """`rollout-3 (pid 1234)`: how messages name an actor."""
        pid = self.pids.get(handle)
        return f"{self.names.get(handle, self.role)}" + (f" (pid {pid})" if pid else "")
