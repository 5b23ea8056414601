"""A job on a cluster, as a user runs one: `ray start --head` on 127.0.0.1 with token auth, the job sent
with `ray job submit` (the README's command), its status and logs read from the dashboard's job API.
The job (MLE, then RL in async mode with the collective weight sync and 2 learner ranks) is resized
from outside with `rlvr ctl` (1 -> 2 -> 1 rollout workers) while it runs, with every step's groups
complete and every worker on the newest weights; its rlvr_* metrics are scraped from the node's
Prometheus endpoint with their values (all that deploy/grafana's dashboard plots); `rlvr ctl stop`
ends it with a checkpoint of its last step.

Meanwhile every listening socket of every process of the cluster is sampled. What we control binds
127.0.0.1: the learner ranks' store and gloo connections, the weight-broadcast group, vLLM's own gloo
group. What ignores it is Ray's, and listed here precisely: the GCS, the raylet and Ray's agents
(dashboard agent, runtime-env agent) listen on all interfaces or the host's interface address whatever
`--node-ip-address` says, the driver's Ray client side opens wildcard ports, and every Ray worker
process has one wildcard gRPC server (Ray's core worker), the same before and after it becomes one of
our actors."""

import json
import os
import re
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.conftest import RLVR, ROOT
from tests.e2e.ray_head import BIN, ray_head

PROMPTS, G = 4, 2
LOOPBACK = "127.0.0.1"
WILDCARD = ("0.0.0.0", "::")
OURS = ("ray::LearnerRank", "ray::RolloutWorker", "ray::RewardWorker")
OVERRIDES = [
    "run.name=scaled", "run.stages=[mle,rl]", "mle.epochs=0.25", "world.text_game.builtin_train_rows=64",
    "rl.steps=400", "rl.checkpoint_every=1000", f"rl.prompts_per_step={PROMPTS}", f"rollout.group_size={G}", f"rl.mini_batch_prompts={PROMPTS}",
    "learner.count=2", "learner.cpus=1", "rollout.cpus=0.5", "rollout.threads=1", "rollout.sampling.max_new_tokens=16", "rollout.max_model_len=512",
    # a leaving worker is generating the next step when it is told to go; the broadcast group is rebuilt each time
    "rl.mode=async", "rollout.sync_transport=collective",
]


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


class Job:
    """A job sent with `ray job submit --no-wait`: its id, status and logs from the dashboard."""

    def __init__(self, head, overrides: list[str]):
        self.head = head
        command = [BIN / "ray", "job", "submit", "--address", head.dashboard, "--runtime-env", "deploy/runtime_env.yaml", "--working-dir", ".",
                   "--no-wait", "--", RLVR, "train", "--config", "configs/tiny_text_game.yaml", *overrides]
        for _ in range(15):  # the dashboard answers a little before its job agent is ready
            submit = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT, env=head.env)
            if "No available agent" not in submit.stderr + submit.stdout:
                break
            time.sleep(2)
        assert submit.returncode == 0, submit.stderr[-2000:]
        self.id = re.search(r"raysubmit_[A-Za-z0-9]+", submit.stdout).group(0)

    def status(self) -> str:
        return job_api(f"{self.head.dashboard}/api/jobs/{self.id}")["status"]

    def logs(self) -> str:
        return job_api(f"{self.head.dashboard}/api/jobs/{self.id}/logs")["logs"]

    def wait(self, seconds: float = 600) -> str:
        """The logs once the job ended; fails unless it SUCCEEDED."""
        deadline, status = time.monotonic() + seconds, None
        while time.monotonic() < deadline and (status := self.status()) not in ("SUCCEEDED", "FAILED", "STOPPED"):
            time.sleep(2)
        logs = self.logs()
        if status != "SUCCEEDED":
            pytest.fail(f"job {self.id} ended {status}:\n{logs[-3000:]}")
        return logs


def wait_for(what: str, condition, job: Job, seconds: float = 600):
    """Poll `condition()` until it is true; fail with the job's logs if the job ends first or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if job.status() in ("SUCCEEDED", "FAILED", "STOPPED"):
            pytest.fail(f"the job ended before {what}:\n{job.logs()[-3000:]}")
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}")


def rl_steps(run_dir) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [r for r in map(json.loads, lines) if r["stage"] == "rl"]


def ctl(head, *args) -> str:
    out = subprocess.run([RLVR, "ctl", *args, "--address", head.address], capture_output=True, text=True, timeout=120, cwd=ROOT, env=head.env)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def scrape_when(port: int, name: str, value: float) -> str | None:
    """The node's Prometheus text once gauge `name` shows `value` (Ray exports a few seconds after a step)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return text if gauge(text, name) == value else None


def gauge(text: str, name: str) -> float | None:
    """The value of the rl stage's sample of a Ray gauge (exported as ray_<name>) in Prometheus text."""
    match = re.search(rf'^ray_{name}\{{[^}}]*stage="rl"[^}}]*\}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else None


class Sockets(threading.Thread):
    """Samples the listening sockets of a process and its descendants until stopped:
    `seen` = {pid: (process title, {(ip, port)})}, an actor's title kept once it had one."""

    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root, self.seen, self.done = root, {}, threading.Event()

    def run(self):
        while not self.done.wait(0.2):
            try:
                procs = [psutil.Process(self.root), *psutil.Process(self.root).children(recursive=True)]
            except psutil.Error:
                continue
            for p in procs:
                try:
                    sockets = {(c.laddr.ip, c.laddr.port) for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
                    title = " ".join(p.cmdline()).split(" ")[0]  # Ray pads its process titles with spaces
                except psutil.Error:
                    continue
                old_title, old = self.seen.get(p.pid, (title, set()))
                self.seen[p.pid] = (title if title.startswith(OURS) else old_title, old | sockets)


def test_a_submitted_job_scaled_watched_and_stopped_listening_on_loopback_only(tmp_path):
    run_dir = tmp_path / "scaled"
    overrides = [f"run.output_dir={tmp_path}", *OVERRIDES]
    with ray_head(num_cpus=4) as head:
        sockets = Sockets(head.pid)
        sockets.start()
        job_api(f"{head.dashboard}/api/version")
        job = Job(head, overrides)
        wait_for("RL step 2", lambda: len(rl_steps(run_dir)) >= 2, job)
        assert json.loads(ctl(head, "scale", "rollout=2"))["wanted"] == {"rollout": 2, "rewards": 1}
        two = wait_for("2 serving rollout workers for 2 steps", lambda: [r for r in rl_steps(run_dir) if r["rollout_workers"] == 2][1:], job)
        # the node's Prometheus endpoint has the job's gauges, with the values of a step
        text = wait_for("rlvr_rollout_workers = 2 on the metrics endpoint", lambda: scrape_when(head.metrics_port, "rlvr_rollout_workers", 2), job, 120)
        assert gauge(text, "rlvr_samples_scored") == PROMPTS * G
        # every metric the Grafana dashboard in deploy/ plots is one the endpoint serves (MLE's loss: in an mle stage)
        plotted = set(re.findall(r"ray_(rlvr_[a-z0-9_]+)\{", (ROOT / "deploy" / "grafana" / "rlvr_dashboard.json").read_text()))
        assert len(plotted) > 20 and not [m for m in plotted - {"rlvr_mle_loss"} if gauge(text, m) is None]
        status = json.loads(ctl(head, "status"))
        assert status["wanted"]["rollout"] == 2 and status["rollout_workers"] == 2 and status["step"] >= two[0]["step"]

        ctl(head, "scale", "rollout=1")
        back = wait_for("1 rollout worker again", lambda: [r for r in rl_steps(run_dir) if r["rollout_workers"] == 1 and r["step"] > two[-1]["step"]][1:], job)
        assert "stop requested" in ctl(head, "stop")
        logs = job.wait()
        assert "stopped by rlvr ctl after step" in logs
        assert "Ray: attached cluster at" in logs and "rlvr ctl status|scale rollout=N rewards=M|stop --address" in logs
        # a clean console: the engines' output is in the run directory's logs/, the job's log has the progress
        assert "[rl " in logs and "Failed to load weights" not in logs and "LLM engine" not in logs, logs[-3000:]
        assert "LLM engine" in (run_dir / "logs" / "rollout-0.log").read_text()
        assert {"learner-0.log", "learner-1.log", "reward-0.log"} <= {p.name for p in (run_dir / "logs").iterdir()}
        assert len(list((run_dir / "tensorboard").glob("events.out.tfevents.*"))) == 2  # mle and rl scalars

        steps = rl_steps(run_dir)
        assert [r["step"] for r in steps] == list(range(1, len(steps) + 1))
        for r in steps:  # every step's groups complete, every serving worker on the newest version
            assert r["samples_scored"] == PROMPTS * G and r["prompts"] == PROMPTS
            assert r["rollout_min_version"] == r["step"]
        counts = [r["rollout_workers"] for r in steps]
        first_two, last_two = counts.index(2), len(counts) - 1 - counts[::-1].index(2)
        assert set(counts[:first_two]) == {1} and set(counts[first_two : last_two + 1]) == {2} and set(counts[last_two + 1 :]) == {1}
        assert back[-1]["step"] <= steps[-1]["step"]
        # stopped with a checkpoint of its last step, which the same command resumes from (rerunning a job's command
        # is tested on the real stack in tests/e2e/test_faults.py, skipping finished stages in tests/services/test_controller.py)
        assert (run_dir / "checkpoints" / f"step{steps[-1]['step']}").is_dir()
        sockets.done.set()
        sockets.join()

    ours = {pid: v for pid, v in sockets.seen.items() if v[0].startswith(OURS)}
    assert {t.split(".")[0] for t, _ in ours.values()} >= set(OURS), sockets.seen
    for pid, (title, bound) in ours.items():
        loopback = {s for s in bound if s[0] == LOOPBACK}
        wildcard = {s for s in bound if s[0] in WILDCARD}
        assert bound == loopback | wildcard, f"{title} (pid {pid}) listens on an interface address: {bound - loopback - wildcard}"
        assert len(wildcard) <= 1, f"{title} (pid {pid}): more wildcard listeners than Ray's core-worker server: {wildcard}"
    learner = set().union(*(bound for title, bound in ours.values() if title.startswith("ray::LearnerRank")))
    assert sum(ip == LOOPBACK for ip, _ in learner) >= 2  # the ranks' store and gloo connections were seen, on loopback
