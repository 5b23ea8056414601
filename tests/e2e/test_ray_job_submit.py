"""The same entrypoint submitted with `ray job submit` to a head started by `ray start --head` on
127.0.0.1; the job's status is read from the dashboard's job API; the head is stopped by its handle."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from learner.weights import free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
AGENT_PORTS = ("dashboard-agent-listen-port", "dashboard-agent-grpc-port", "metrics-export-port", "runtime-env-agent-port", "ray-client-server-port")


def job_api(url, seconds=90):
    """GET the dashboard's job REST API, presenting Ray's auth token (~/.ray/auth_token) when there is one."""
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
    headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"} if token_file.exists() else {}
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
                return json.loads(r.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_ray_job_submit_succeeds(tmp_path):
    temp_dir = tempfile.mkdtemp(prefix="rlvr-head-", dir="/tmp")
    # Ray's token auth, on for the head and every client; the cluster's temp files (vLLM's) go to its temp dir
    env = {**os.environ, "RAY_AUTH_MODE": "token", "TMPDIR": temp_dir}
    port, dash = free_port(), free_port()
    head = subprocess.Popen(
        [BIN / "ray", "start", "--head", "--block", "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
         f"--port={port}", f"--dashboard-port={dash}", "--num-cpus=4", f"--temp-dir={temp_dir}", "--include-dashboard=true",
         # own ports for the head's agents, so a second Ray cluster on this machine (another test's) cannot clash
         *(f"--{name}={free_port()}" for name in AGENT_PORTS)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env,
    )
    address = f"http://127.0.0.1:{dash}"
    try:
        job_api(f"{address}/api/version")
        overrides = [
            f"run.output_dir={tmp_path}", "run.name=submitted", "run.stages=[mle,rl]", "run.rl_steps=2",
            "run.mle_epochs=0.25", "world.text_game.builtin_train_rows=32", "run.prompts_per_step=2",
            "rollout.group_size=2", "learner.mini_batch_prompts=2", "rollout.sampling.max_new_tokens=16",
        ]
        command = [
            BIN / "ray", "job", "submit", "--address", address, "--working-dir", str(ROOT), "--no-wait", "--",
            sys.executable, "-m", "services.train", "--config", "configs/tiny_text_game.yaml", *overrides,
        ]
        for _ in range(15):  # the dashboard answers a little before its job agent is ready
            submit = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
            if "No available agent" not in submit.stderr + submit.stdout:
                break
            time.sleep(2)
        assert submit.returncode == 0, submit.stderr[-2000:]
        job_id = re.search(r"raysubmit_[A-Za-z0-9]+", submit.stdout).group(0)
        deadline, status = time.monotonic() + 420, None
        while time.monotonic() < deadline:
            status = job_api(f"{address}/api/jobs/{job_id}")["status"]
            if status in ("SUCCEEDED", "FAILED", "STOPPED"):
                break
            time.sleep(3)
        if status != "SUCCEEDED":
            pytest.fail(f"job ended {status}:\n{job_api(f'{address}/api/jobs/{job_id}/logs')['logs'][-3000:]}")
        rl = [json.loads(line) for line in (tmp_path / "submitted" / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in rl if r["stage"] == "rl"] == [1, 2]
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)
