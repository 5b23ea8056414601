"""What the job's roles ask the cluster for, checked before any actor starts, and waited for visibly.

Each role (learner ranks, rollout workers, reward workers) asks for `count` actors of one shape
(CPUs, GPUs, custom resources from `<role>.resources`). `check` compares that demand with what the
cluster has, or can autoscale to (the autoscaler's node types, when the cluster has one): a demand
that can never be met fails at once with ResourceError naming the config fields and the cluster's
totals, instead of waiting forever. `wait_ready` waits for actors to start and, while they wait for
resources (an autoscaler adding nodes, or other jobs), says on the console what they wait for.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

PENDING_NOTE_S = 20.0  # actors not up after this long are reported as waiting, then every PENDING_REPEAT_S
PENDING_REPEAT_S = 60.0


class ResourceError(RuntimeError):
    """The job asks for more than the cluster has or can autoscale to; the message names the fields."""


@dataclass
class Role:
    """`count` actors of one shape, with the config fields that set them."""

    name: str  # e.g. "rollout"
    count: int
    count_field: str  # e.g. "rollout.num_workers"
    shape: dict[str, float]  # per actor: {"CPU": 1.0, "GPU": 0.0, "rollout_slot": 1.0}
    shape_fields: dict[str, str]  # resource -> config field, e.g. {"CPU": "rollout.cpus_per_worker"}


def shape(cpus: float, gpus: float, custom: dict[str, float]) -> dict[str, float]:
    """The Ray resources one actor asks for (zero amounts dropped)."""
    return {k: float(v) for k, v in {"CPU": cpus, "GPU": gpus, **custom}.items() if v}


_NAMES: dict[str, int] = {}


def actor_name(role: str) -> str:
    """`<role>-<n>`, n counting the actors of that role this process started: names stay unique in
    the job's namespace across replacements and stages, and the dashboard's actor view reads as the
    architecture (learner-0, rollout-0, rollout-1, reward-0, ...)."""
    index = _NAMES.get(role, 0)
    _NAMES[role] = index + 1
    return f"{role}-{index}"


def ray_options(cpus: float, gpus: float, custom: dict[str, float]) -> dict:
    """Keyword arguments of ray.remote for an actor of this shape (and the job's worker-output setting)."""
    from services.cluster import worker_runtime_env

    return {"num_cpus": cpus, "num_gpus": gpus, **({"resources": dict(custom)} if custom else {}), **worker_runtime_env()}


def roles(cfg) -> list[Role]:
    """The actors the RL stage starts, by role (the MLE and eval stages use a subset of them)."""
    def fields(section: str, cpus: str, gpus: str, custom: dict) -> dict[str, str]:
        return {"CPU": f"{section}.{cpus}", "GPU": f"{section}.{gpus}", **{k: f"{section}.resources.{k}" for k in custom}}

    r, w, lr = cfg.rollout, cfg.rewards, cfg.learner
    return [
        Role("learner", lr.num_ranks, "learner.num_ranks", shape(lr.cpus_per_rank, lr.gpus_per_rank, lr.resources),
             fields("learner", "cpus_per_rank", "gpus_per_rank", lr.resources)),
        Role("rollout", r.num_workers, "rollout.num_workers", shape(r.cpus_per_worker, r.gpus_per_worker, r.resources),
             fields("rollout", "cpus_per_worker", "gpus_per_worker", r.resources)),
        Role("reward", w.num_workers, "rewards.num_workers", shape(w.cpus_per_worker, 0.0, w.resources),
             {"CPU": "rewards.cpus_per_worker", **{k: f"rewards.resources.{k}" for k in w.resources}}),
    ]


def capacity() -> tuple[dict[str, float], list[dict[str, float]], bool]:
    """(the most of each resource the cluster can have, the node shapes it has or can add, autoscaling?)."""
    import ray

    totals = {k: float(v) for k, v in ray.cluster_resources().items()}
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    autoscaled = False
    try:  # the autoscaler's node types (KubeRay, the cluster launcher): what the cluster can grow to
        from ray._private.state import state

        config = state.get_cluster_config()
        if config is not None and config.node_group_configs:
            autoscaled = True
            for k, v in (state.get_max_resources_from_cluster_config() or {}).items():
                totals[k] = max(totals.get(k, 0.0), float(v))
            nodes += [dict(g.resources) for g in config.node_group_configs if g.max_count != 0]
    except Exception:  # no autoscaler state (a local cluster): the live totals are the limit
        pass
    return totals, nodes, autoscaled


def _fits(need: dict[str, float], have: dict[str, float]) -> bool:
    return all(have.get(k, 0.0) >= v - 1e-9 for k, v in need.items())


STAGE_ROLES = {"mle": ("learner",), "rl": ("learner", "rollout", "reward"), "eval": ("rollout", "reward")}  # actors alive at once


def check(cfg, totals: dict[str, float] | None = None, nodes: list[dict[str, float]] | None = None, autoscaled: bool = False) -> None:
    """Raise ResourceError when the actors of a configured stage together (or one actor alone, on any
    node) need more than the cluster has or can autoscale to. `totals` / `nodes` default to the
    connected cluster's."""
    if totals is None:
        totals, nodes, autoscaled = capacity()
    where = "the cluster can autoscale to" if autoscaled else "the cluster has"
    problems: list[str] = []
    for stage in cfg.run.stages:
        used = [role for role in roles(cfg) if role.name in STAGE_ROLES[stage]]
        for role in used:
            if nodes and not any(_fits(role.shape, n) for n in nodes):
                asked = ", ".join(f"{role.shape_fields.get(k, k)} = {v:g} {k}" for k, v in role.shape.items())
                problems.append(f"one {role.name} actor needs {asked}, more than any node provides (nodes: {_show_nodes(nodes)})")
        for res in sorted({k for role in used for k in role.shape}):
            parts = [(role, role.shape[res]) for role in used if res in role.shape]
            need = sum(role.count * v for role, v in parts)
            if need > totals.get(res, 0.0) + 1e-9:
                terms = " + ".join(f"{role.count_field}={role.count} x {role.shape_fields.get(res, res)}={v:g}" for role, v in parts)
                problems.append(f"stage {stage}, {res}: {terms} = {need:g}, but {where} {totals.get(res, 0.0):g} {res}")
    if problems:
        raise ResourceError("the job asks for more than the cluster provides:\n  " + "\n  ".join(dict.fromkeys(problems))
                            + "\n  lower those fields, or add nodes (a cluster's worker groups: see deploy/)")


def _show_nodes(nodes: list[dict[str, float]]) -> str:
    keep = lambda k: not k.startswith(("node:", "memory", "object_store_memory", "accelerator_type"))  # noqa: E731
    return "; ".join(", ".join(f"{k}={v:g}" for k, v in n.items() if keep(k)) for n in nodes[:6])


def _waiting_for_resources(actors: list) -> int:
    """How many of `actors` Ray has not placed yet (no node with their resources free)."""
    from ray._private.state import state

    try:
        return sum(state.actor_table(a._actor_id.hex()).get("State") in ("PENDING_CREATION", "DEPENDENCIES_UNREADY") for a in actors)
    except Exception:  # the GCS table is an internal API: never let reporting stop a start-up
        return 0


def wait_ready(actors: list, refs: list, what: str, need: dict[str, float]) -> list:
    """ray.get(refs) of the start-up calls of `actors`; while some of them wait to be placed (for
    resources: an autoscaler adding nodes, other jobs), print what they wait for (their shape, the
    cluster's free and total resources), after PENDING_NOTE_S and then every PENDING_REPEAT_S."""
    import ray

    start, noted = time.monotonic(), None
    pending = list(refs)
    while pending:
        _, pending = ray.wait(pending, num_returns=len(pending), timeout=5.0)
        waited = time.monotonic() - start
        if not pending or waited < PENDING_NOTE_S or (noted is not None and waited - noted < PENDING_REPEAT_S):
            continue
        unplaced = _waiting_for_resources(actors)
        if unplaced:
            noted = waited
            free, total = ray.available_resources(), ray.cluster_resources()
            show = ", ".join(f"{k} {free.get(k, 0):g} free of {total.get(k, 0):g}" for k in need)
            print(f"waiting {waited:.0f} s for resources: {unplaced} of {len(actors)} {what} not placed yet (each needs "
                  f"{', '.join(f'{v:g} {k}' for k, v in need.items())}; cluster: {show})", file=sys.stderr, flush=True)
    return ray.get(list(refs))
