"""Ray for a job: attach to a cluster when there is one (RAY_ADDRESS, or under `ray job submit`),
else start a local one bound to 127.0.0.1 and stop it at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

from learner.weights import NODE_ADDRESS_ENV


@contextlib.contextmanager
def ray_session(num_cpus: int | None = None):
    import ray

    if ray.is_initialized():  # the caller (a test, a notebook) owns the cluster
        yield "existing"
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=True)
        try:
            yield "attached"
        finally:
            ray.shutdown()
        return
    temp_dir = tempfile.mkdtemp(prefix="rlvr-ray-", dir="/tmp")  # short path: Ray's socket names must fit
    ray.init(
        num_cpus=num_cpus or max(4, os.cpu_count() or 1),
        _node_ip_address="127.0.0.1",
        dashboard_host="127.0.0.1",
        include_dashboard=False,
        _temp_dir=temp_dir,
        # workers' temp files (vLLM's dist-init files) are removed with the temp dir; our collectives bind to loopback
        runtime_env={"env_vars": {"TMPDIR": temp_dir, NODE_ADDRESS_ENV: "127.0.0.1"}},
    )
    try:
        yield "local"
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)
