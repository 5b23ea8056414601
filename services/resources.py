"""What the job's roles ask the cluster for, checked before any actor starts.

Each role (learner ranks, rollout workers, reward workers) asks for `count` actors of one shape
(CPUs, GPUs, custom resources from `<role>.resources`). `check` compares that demand with what the
cluster has, or can autoscale to (the autoscaler's node types, when the cluster has one): a demand
that can never be met fails at once with ResourceError naming the config fields and the cluster's
totals, instead of waiting forever. (Actors that wait for resources while they start are reported by
core/actors.py.)
"""

from __future__ import annotations

from dataclasses import dataclass



class ResourceError(RuntimeError):
    """The job asks for more than the cluster has or can autoscale to; the message names the fields."""


@dataclass
class Role:
    """`count` actors of one shape, with the config fields that set them."""

    name: str  # e.g. "rollout"
    count: int
    count_field: str  # e.g. "rollout.count"
    shape: dict[str, float]  # per actor: {"CPU": 1.0, "GPU": 0.0, "rollout_slot": 1.0}
    shape_fields: dict[str, str]  # resource -> config field, e.g. {"CPU": "rollout.cpus"}


def roles(cfg) -> list[Role]:
    """The actors the RL stage starts, by role (the MLE and eval stages use a subset of them)."""
    def role(name: str, section: str, pool) -> Role:  # every pool has the same shape (core.actors.PoolConfig)
        fields = {"CPU": f"{section}.cpus", "GPU": f"{section}.gpus", **{k: f"{section}.resources.{k}" for k in pool.resources}}
        return Role(name, pool.count, f"{section}.count", pool.shape().resources(), fields)

    return [role("learner", "learner", cfg.learner), role("rollout", "rollout", cfg.rollout), role("reward", "rewards", cfg.rewards)]


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


STAGE_ROLES = {"mle": ("learner",), "rl": ("learner", "rollout", "reward"), "eval": ("rollout", "reward")}  # the actors a stage starts
POOLS = ("rollout", "reward")  # once started, the pools stay up to the job's end (services.run.Pools)


def check(cfg, totals: dict[str, float] | None = None, nodes: list[dict[str, float]] | None = None, autoscaled: bool = False) -> None:
    """Raise ResourceError when the actors of a configured stage together (or one actor alone, on any
    node) need more than the cluster has or can autoscale to. `totals` / `nodes` default to the
    connected cluster's."""
    if totals is None:
        totals, nodes, autoscaled = capacity()
    where = "the cluster can autoscale to" if autoscaled else "the cluster has"
    problems: list[str] = []
    pools_up: set[str] = set()
    for stage in cfg.run.stages:
        pools_up |= set(STAGE_ROLES[stage]) & set(POOLS)
        used = [role for role in roles(cfg) if role.name in set(STAGE_ROLES[stage]) | pools_up]
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
