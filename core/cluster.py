"""Ray for a job: attach to a cluster when there is one (RAY_ADDRESS, or under `ray job submit`),
else start a local one bound to 127.0.0.1 (with the dashboard, unless turned off) and stop it at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass

from core.net import NODE_ADDRESS_ENV


@dataclass
class Session:
    mode: str  # "local" (started here), "attached" (RAY_ADDRESS) or "existing" (the caller's)
    address: str  # the cluster's GCS address, HOST:PORT (what `rlvr ctl --address` takes)
    dashboard_url: str | None

    def banner(self) -> str:
        dashboard = f"dashboard http://{self.dashboard_url}" if self.dashboard_url else "no dashboard (run.dashboard=false)"
        return (f"Ray: {self.mode} cluster at {self.address}; {dashboard}; control the running job with "
                f"`rlvr ctl status|scale rollout=N rewards=M|stop --address {self.address}`")


def _session(mode: str) -> Session:
    import ray
    from ray._private import worker

    address = ray.get_runtime_context().gcs_address
    if mode == "local":  # ours listens on loopback; Ray reports the interface's address
        address = "127.0.0.1:" + address.rsplit(":", 1)[1]
    node = worker._global_node
    return Session(mode, address, (node.webui_url or None) if node is not None else None)


@contextlib.contextmanager
def ray_session(num_cpus: int | None = None, dashboard: bool = False):
    import ray

    if ray.is_initialized():  # the caller (a test, a notebook) owns the cluster
        yield _session("existing")
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=True)
        try:
            yield _session("attached")
        finally:
            ray.shutdown()
        return
    temp_dir = tempfile.mkdtemp(prefix="rlvr-ray-", dir="/tmp")  # short path: Ray's socket names must fit
    ray.init(
        num_cpus=num_cpus or max(4, os.cpu_count() or 1),
        _node_ip_address="127.0.0.1",
        dashboard_host="127.0.0.1",
        include_dashboard=dashboard,
        _temp_dir=temp_dir,
        # workers' temp files (vLLM's dist-init files) are removed with the temp dir; our collectives bind to loopback
        runtime_env={"env_vars": {"TMPDIR": temp_dir, NODE_ADDRESS_ENV: "127.0.0.1"}},
    )
    try:
        yield _session("local")
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)
