"""Control a running job from outside it: resize its pools, read its status, stop it.

    rlvr ctl scale rollout=4 rewards=2 [--address HOST:PORT] [--run NAME]
    rlvr ctl status [--address HOST:PORT] [--run NAME]
    rlvr ctl stop [--address HOST:PORT] [--run NAME]

A job starts a small JobControl actor named `control:<run.name>` in the Ray namespace `rlvr` (the
controller, before its first stage); this command attaches to the job's cluster (--address, else
RAY_ADDRESS; a job prints its address) and talks to it. The RL loop reads the wanted sizes between
steps (`apply_sizes`), so a size asked for during MLE applies from the first RL step:
rollout workers that join start in the background and serve from the first step boundary after their
engine is up, holding the current weights; leaving ones finish the call they are running; the reward
pool takes its new size at its next batch. `stop` ends the job after the RL step in progress, with a
checkpoint of it (asked during another stage: when that stage is done); rerunning the same command
resumes there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

NAMESPACE = "rlvr"
POOLS = ("rollout", "rewards")
CONTROL_TIMEOUT_S = 60.0  # the control actor answers at once; longer means it is gone or its node is


def control_name(run_name: str) -> str:
    return f"control:{run_name}"


class JobStopped(Exception):
    """The job was stopped by `rlvr ctl stop` after a step, with a checkpoint of it."""


class JobControl:
    """The running job's control point (a Ray actor): wanted pool sizes and stop in, status out."""

    def __init__(self, job_id: str, sizes: dict[str, int]):
        self.job_id = job_id
        self.claim(job_id, sizes)

    def claim(self, job_id: str, sizes: dict[str, int]) -> bool:
        """A run of job `job_id` starts: fresh wanted sizes and status. False (nothing changed) when
        another live job holds this control point (two jobs with one run.name)."""
        if job_id != self.job_id:
            return False
        self.sizes, self.stop_requested, self.status = dict(sizes), False, {}
        return True

    def scale(self, sizes: dict[str, int]) -> dict[str, int]:
        for pool, n in sizes.items():
            if pool not in POOLS or not isinstance(n, int) or n < 1:
                raise ValueError(f"scale: {pool}={n!r}: pools are {', '.join(POOLS)}, each with at least 1 worker")
        self.sizes.update(sizes)
        return dict(self.sizes)

    def request_stop(self) -> None:
        self.stop_requested = True

    def wanted(self) -> tuple[dict[str, int], bool]:
        return dict(self.sizes), self.stop_requested

    def report(self, status: dict) -> None:
        self.status = status

    def get_status(self) -> dict:
        return {"wanted": dict(self.sizes), "stop_requested": self.stop_requested, **self.status}


def start_control(cfg):
    """The JobControl actor of a run, wanting the configured pool sizes. It is owned by the job (it ends
    with it); a later run in the same job (a notebook, a test) takes it over afresh."""
    import ray

    name, job_id = control_name(cfg.run.name), ray.get_runtime_context().get_job_id()
    sizes = {"rollout": cfg.rollout.count, "rewards": cfg.rewards.count}
    control = ray.remote(num_cpus=0)(JobControl).options(name=name, namespace=NAMESPACE, get_if_exists=True).remote(job_id, sizes)
    if not ray.get(control.claim.remote(job_id, sizes)):
        raise RuntimeError(f"another job with run.name={cfg.run.name!r} is running on this cluster (it holds the control actor "
                           f"{name!r}): give this one another run.name")
    return control


def wanted(control) -> tuple[dict[str, int], bool]:
    """(the wanted pool sizes, stop asked) from the job's control actor, within CONTROL_TIMEOUT_S."""
    import ray
    from ray.exceptions import GetTimeoutError

    try:
        return ray.get(control.wanted.remote(), timeout=CONTROL_TIMEOUT_S)
    except GetTimeoutError:
        raise RuntimeError(f"the job's control actor did not answer within {CONTROL_TIMEOUT_S:g} s (asked for the wanted pool sizes)") from None


def apply_sizes(control, rollout, rewards, step: int, total: int) -> tuple[bool, dict]:
    """Between steps: take the wanted sizes (rollout workers that join start in the background, those
    that are up load the current weights and serve from now), report the job's state; returns
    (stop requested, the pool metrics of the step)."""
    sizes, stop = wanted(control)
    if sizes["rollout"] != len(rollout.workers) + len(rollout.joining):
        rollout.request(sizes["rollout"])
    rewards.resize(sizes["rewards"])
    rollout.admit_ready()
    metrics = {"rollout_workers": len(rollout.workers), "rollout_joining": len(rollout.joining), "reward_workers": rewards.wanted}  # rewards: from its next batch
    control.report.remote({"stage": "rl", "step": step, "rl_steps": total, "weights_version": step - 1, **metrics})
    return stop, metrics


def find_control(run_name: str | None):
    import ray

    names = sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                   if a.get("namespace") == NAMESPACE and a["name"].startswith("control:"))
    if run_name is not None:
        wanted = control_name(run_name)
        if wanted not in names:
            raise SystemExit(f"error: no running job with run.name={run_name!r} on this cluster (running: {[n[8:] for n in names] or 'none'})")
        return ray.get_actor(wanted, namespace=NAMESPACE)
    if len(names) != 1:
        raise SystemExit(f"error: {len(names)} running jobs on this cluster ({[n[8:] for n in names]}): pass --run NAME"
                         if names else "error: no running job on this cluster")
    return ray.get_actor(names[0], namespace=NAMESPACE)


def parse_sizes(pairs: list[str]) -> dict[str, int]:
    sizes = {}
    for pair in pairs:
        pool, eq, value = pair.partition("=")
        if not eq or pool not in POOLS or not value.isdigit() or int(value) < 1:
            raise SystemExit(f"error: scale {pair!r}: write pool=N with pool one of {', '.join(POOLS)} and N >= 1, e.g. rollout=4")
        sizes[pool] = int(value)
    if not sizes:
        raise SystemExit("error: scale needs at least one pool=N, e.g. rollout=4 rewards=2")
    return sizes


def main(argv: list[str] | None = None, prog: str = "rlvr ctl") -> int:
    job = argparse.ArgumentParser(add_help=False)
    job.add_argument("--address", default=os.environ.get("RAY_ADDRESS"), help="the job's Ray cluster, HOST:PORT (default: RAY_ADDRESS)")
    job.add_argument("--run", default=None, help="run.name of the job (needed when several run on the cluster)")
    parser = argparse.ArgumentParser(prog=prog, description="Control a running RLVR job: scale its pools, show its status, stop it.")
    sub = parser.add_subparsers(dest="command", required=True)
    scale = sub.add_parser("scale", parents=[job], help="resize pools between steps, e.g. rollout=4 rewards=2")
    scale.add_argument("sizes", nargs="+", metavar="pool=N")
    sub.add_parser("status", parents=[job], help="the job's step, pool sizes (serving / joining / wanted) and weights version")
    sub.add_parser("stop", parents=[job], help="stop after the step in progress, with a checkpoint (rerun the job's command to resume)")
    args = parser.parse_args(argv)
    if not args.address:
        parser.error("no cluster: pass --address HOST:PORT (a local run prints it) or set RAY_ADDRESS")
    sizes = parse_sizes(args.sizes) if args.command == "scale" else None

    import ray

    ray.init(address=args.address.removeprefix("ray://"), namespace=NAMESPACE, log_to_driver=False, logging_level="ERROR")
    try:
        control = find_control(args.run)
        if args.command == "scale":
            print(json.dumps({"wanted": ray.get(control.scale.remote(sizes))}))
        elif args.command == "stop":
            ray.get(control.request_stop.remote())
            print("stop requested: the job stops after the step in progress, with a checkpoint")
        else:
            print(json.dumps(ray.get(control.get_status.remote())))
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
