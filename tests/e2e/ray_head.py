"""A Ray head started with `ray start --head` on 127.0.0.1 (token auth on, its own ports), stopped by its
handle: the cluster that `ray job submit` and `rlvr ctl` attach to in the e2e tests."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.net import free_port

BIN = Path(sys.executable).parent
AGENT_PORTS = ("dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port", "ray-client-server-port")


@dataclass
class Head:
    address: str  # GCS, HOST:PORT (RAY_ADDRESS of a driver, rlvr ctl --address)
    dashboard: str  # http://HOST:PORT (ray job submit --address)
    metrics_port: int  # the node's Prometheus endpoint
    env: dict  # the environment clients use (RAY_AUTH_MODE=token, TMPDIR in the cluster's temp dir)
    pid: int  # `ray start --head --block`: every process of the cluster descends from it


@contextlib.contextmanager
def ray_head(num_cpus: int = 4):
    temp_dir = tempfile.mkdtemp(prefix="rlvr-head-", dir="/tmp")
    # Ray's token auth, on for the head and every client; the cluster's temp files (vLLM's) go to its temp dir; our
    # collectives listen on loopback (Ray reports the interface's address as the node's, whatever --node-ip-address says);
    # metrics exported every 2 s (Ray's default: 10 s), so a test sees a step's gauges soon after the step
    env = {**os.environ, "RAY_AUTH_MODE": "token", "TMPDIR": temp_dir, "RLVR_NODE_ADDRESS": "127.0.0.1", "RAY_metrics_report_interval_ms": "2000"}
    port, dash, metrics = free_port(), free_port(), free_port()
    head = subprocess.Popen(
        [BIN / "ray", "start", "--head", "--block", "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
         f"--port={port}", f"--dashboard-port={dash}", f"--num-cpus={num_cpus}", f"--temp-dir={temp_dir}", "--include-dashboard=true",
         f"--metrics-export-port={metrics}",
         # own ports for the head's agents, so a second Ray cluster on this machine (another test's) cannot clash
         *(f"--{name}={free_port()}" for name in AGENT_PORTS)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env,
    )
    try:
        yield Head(f"127.0.0.1:{port}", f"http://127.0.0.1:{dash}", metrics, env, head.pid)
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:  # as `ray stop` does: a grace period, then SIGKILL (the raylet outlives a SIGTERM by a minute or more)
            head.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)
