"""A running job resized from outside (`rlvr ctl` attached by address): 1 -> 2 -> 1 rollout workers
while the RL stage runs, with every step's groups complete and every worker on the newest weights;
the run's rlvr_* metrics scraped from the node's Prometheus endpoint with their values (all that
deploy/grafana's dashboard plots); then
`rlvr ctl stop` (a checkpoint of the last step) and a rerun of the same command resuming there.
All real: a `ray start --head` cluster on 127.0.0.1 with token auth, vLLM engines, DeepSpeed, reward workers."""

import json
import re
import subprocess
import time
import urllib.request

import pytest

from tests.conftest import RLVR, ROOT
from tests.e2e.ray_head import ray_head

PROMPTS, G = 4, 2


def rl_steps(run_dir) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [r for r in map(json.loads, lines) if r["stage"] == "rl"]


def wait_for(what: str, condition, job, seconds: float = 600):
    """Poll `condition()` until it is true; fail with the job's output if the job ends first or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if job.poll() is not None:
            pytest.fail(f"the job ended (exit {job.returncode}) before {what}:\n{job.stdout.read()[-3000:]}")
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}")


def ctl(head, *args) -> str:
    out = subprocess.run([RLVR, "ctl", *args, "--address", head.address],
                         capture_output=True, text=True, timeout=120, cwd=ROOT, env=head.env)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def scrape_when(port: int, name: str, value: float) -> str | None:
    """The endpoint's text once gauge `name` shows `value` (Ray exports a few seconds after a step)."""
    text = scrape(port)
    return text if gauge(text, name) == value else None


def gauge(text: str, name: str) -> float | None:
    """The value of the rl stage's sample of a Ray gauge (exported as ray_<name>) in Prometheus text."""
    match = re.search(rf'^ray_{name}\{{[^}}]*stage="rl"[^}}]*\}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else None


@pytest.mark.parametrize("mode", [
    ["rl.mode=sync"],
    # a leaving worker is generating the next step when it is told to go; the broadcast group is rebuilt each time
    ["rl.mode=async", "rollout.sync_transport=collective"],
], ids=["sync", "async-collective"])
def test_scale_rollout_pool_while_the_job_runs_and_scrape_its_metrics(tmp_path, mode):
    run_dir = tmp_path / "scaled"
    command = [
        RLVR, "train", "--config", "configs/tiny_text_game.yaml", f"run.output_dir={tmp_path}",
        "run.name=scaled", "run.stages=[rl]", "rl.steps=400", "rl.checkpoint_every=1000", "world.text_game.builtin_train_rows=64",
        f"rl.prompts_per_step={PROMPTS}", f"rollout.group_size={G}", f"rl.mini_batch_prompts={PROMPTS}", "learner.cpus=1",
        "rollout.cpus=0.5", "rollout.threads=1", "rollout.sampling.max_new_tokens=16", "rollout.max_model_len=512", *mode,
    ]
    with ray_head(num_cpus=4) as head:
        env = {**head.env, "RAY_ADDRESS": head.address}
        job = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for("step 2", lambda: len(rl_steps(run_dir)) >= 2, job)
            assert json.loads(ctl(head, "scale", "rollout=2"))["wanted"] == {"rollout": 2, "rewards": 1}
            two = wait_for("2 serving rollout workers for 2 steps", lambda: [r for r in rl_steps(run_dir) if r["rollout_workers"] == 2][1:], job)
            # the node's Prometheus endpoint has the job's gauges, with the values of a step
            text = wait_for("rlvr_rollout_workers = 2 on the metrics endpoint", lambda: scrape_when(head.metrics_port, "rlvr_rollout_workers", 2), job, 120)
            for name in ("rlvr_reward_mean", "rlvr_time_step", "rlvr_weights_version", "rlvr_samples_scored"):
                assert gauge(text, name) is not None, f"{name} not exported"
            assert gauge(text, "rlvr_samples_scored") == PROMPTS * G
            # every metric the Grafana dashboard in deploy/ plots is one the endpoint serves (MLE's loss: in an mle stage)
            plotted = set(re.findall(r"ray_(rlvr_[a-z0-9_]+)\{", (ROOT / "deploy" / "grafana" / "rlvr_dashboard.json").read_text()))
            assert len(plotted) > 20 and not [m for m in plotted - {"rlvr_mle_loss"} if gauge(text, m) is None]
            status = json.loads(ctl(head, "status"))
            assert status["wanted"]["rollout"] == 2 and status["rollout_workers"] == 2 and status["step"] >= two[0]["step"]

            ctl(head, "scale", "rollout=1")
            back = wait_for("1 rollout worker again", lambda: [r for r in rl_steps(run_dir) if r["rollout_workers"] == 1 and r["step"] > two[-1]["step"]][1:], job)
            assert "stop requested" in ctl(head, "stop")
            out, _ = job.communicate(timeout=600)
        finally:
            if job.poll() is None:
                job.kill()
                job.wait()
        assert job.returncode == 0, out[-3000:]
        assert "stopped by rlvr ctl after step" in out
        steps = rl_steps(run_dir)
        assert [r["step"] for r in steps] == list(range(1, len(steps) + 1))
        for r in steps:  # every step's groups complete, every serving worker on the newest version
            assert r["samples_scored"] == PROMPTS * G and r["prompts"] == PROMPTS
            assert r["rollout_min_version"] == r["step"]
        counts = [r["rollout_workers"] for r in steps]
        first_two, last_two = counts.index(2), len(counts) - 1 - counts[::-1].index(2)
        assert set(counts[:first_two]) == {1} and set(counts[first_two : last_two + 1]) == {2} and set(counts[last_two + 1 :]) == {1}
        assert back[-1]["step"] <= steps[-1]["step"]
        stopped = steps[-1]["step"]
        assert (run_dir / "checkpoints" / f"step{stopped}").is_dir()

        # the same command resumes after the checkpoint of the stop (here for one more step)
        rerun = subprocess.run(command + [f"rl.steps={stopped + 1}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
        assert "resumed from" in rerun.stderr and [r["step"] for r in rl_steps(run_dir)][-2:] == [stopped, stopped + 1]  # logged
