"""The same entrypoint submitted with `ray job submit` to a head started by `ray start --head` on
127.0.0.1; the job's status is read from the dashboard's job API; the head is stopped by its handle."""

import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import RLVR, ROOT
from tests.e2e.ray_head import BIN, ray_head



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
    with ray_head() as head:
        job_api(f"{head.dashboard}/api/version")
        overrides = [
            f"run.output_dir={tmp_path}", "run.name=submitted", "run.stages=[mle,rl]", "rl.steps=2",
            "mle.epochs=0.25", "world.text_game.builtin_train_rows=32", "rl.prompts_per_step=2",
            "rollout.group_size=2", "rl.mini_batch_prompts=2", "rollout.sampling.max_new_tokens=16",
        ]
        command = [  # the README's command (its runtime env leaves .git, runs/ and .cache/ behind)
            BIN / "ray", "job", "submit", "--address", head.dashboard, "--runtime-env", "deploy/runtime_env.yaml", "--working-dir", ".",
            "--no-wait", "--", RLVR, "train", "--config", "configs/tiny_text_game.yaml", *overrides,
        ]
        for _ in range(15):  # the dashboard answers a little before its job agent is ready
            submit = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT, env=head.env)
            if "No available agent" not in submit.stderr + submit.stdout:
                break
            time.sleep(2)
        assert submit.returncode == 0, submit.stderr[-2000:]
        job_id = re.search(r"raysubmit_[A-Za-z0-9]+", submit.stdout).group(0)
        deadline, status = time.monotonic() + 420, None
        while time.monotonic() < deadline:
            status = job_api(f"{head.dashboard}/api/jobs/{job_id}")["status"]
            if status in ("SUCCEEDED", "FAILED", "STOPPED"):
                break
            time.sleep(3)
        logs = job_api(f"{head.dashboard}/api/jobs/{job_id}/logs")["logs"]
        if status != "SUCCEEDED":
            pytest.fail(f"job ended {status}:\n{logs[-3000:]}")
        assert "Ray: attached cluster at" in logs and "rlvr ctl status|scale rollout=N rewards=M|stop --address" in logs
        run_dir = tmp_path / "submitted"
        rl = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in rl if r["stage"] == "rl"] == [1, 2]
        # a clean console: the engines' output is in the run directory's logs/, the job's log has the progress
        assert "[rl 2/2]" in logs and "Failed to load weights" not in logs and "LLM engine" not in logs, logs[-3000:]
        assert "LLM engine" in (run_dir / "logs" / "rollout-0.log").read_text()
        assert {"learner-0.log", "mle-learner-0.log", "reward-0.log"} <= {p.name for p in (run_dir / "logs").iterdir()}
        assert len(list((run_dir / "tensorboard").glob("events.out.tfevents.*"))) == 2  # mle and rl scalars
