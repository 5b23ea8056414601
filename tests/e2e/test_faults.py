"""Chaos tests of the RL job on the real stack (Ray on 127.0.0.1, vLLM, DeepSpeed, reward workers): kill
or freeze, by pid and mid-step, a rollout worker while it generates, a reward worker while it scores,
a learner rank while it updates, a verifier call, and the driver itself. Every run finishes its
configured steps; every step has every prompt's group, each sample scored once; the faults are
counted; and the results equal an uninterrupted run's step for step (prompts, rewards, losses)."""

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from services.config import load_config
from services.controller import run_job
from tests.conftest import RLVR, ROOT
from tests.e2e.chaos import SIGKILL, SIGSTOP, Script, processes, wait_for_step

STEPS, PROMPTS, GROUP = 8, 4, 4
HANG_ONCE = Path(__file__).with_name(".hang_once")  # while this file exists, the next verifier call takes it and hangs
COMPARED = ("prompts_digest", "reward_mean", "reward_std", "policy_loss", "kl", "grad_norm")


def dense_reward(prediction, reference):
    """A user verifier with a reward for any text (so every step trains on non-zero advantages), slow
    enough that a reward worker is caught scoring; hangs once when HANG_ONCE exists."""
    if HANG_ONCE.exists():
        HANG_ONCE.unlink(missing_ok=True)
        time.sleep(3600)
    time.sleep(0.02)
    return (len(prediction) % 7) / 6


OVERRIDES = [
    "world.text_game.builtin_train_rows=64", "world.text_game.builtin_test_rows=8", f"rl.steps={STEPS}",
    "rl.checkpoint_every=2", f"rl.prompts_per_step={PROMPTS}", f"rollout.group_size={GROUP}", "rl.mini_batch_prompts=2",
    "rollout.sampling.max_new_tokens=32", "rewards.verifier=tests.e2e.test_faults:dense_reward", "rewards.batch_size=4",
]


def rl_records(run_dir: Path) -> list[dict]:
    return [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if r["stage"] == "rl"]


def assert_complete_and_equal(run: list[dict], reference: list[dict]) -> None:
    assert [r["step"] for r in run] == list(range(1, STEPS + 1))  # each step once
    for r, ref in zip(run, reference):
        assert r["prompts"] == PROMPTS and r["samples_scored"] == PROMPTS * GROUP, r  # every prompt generated, every sample scored
        assert {k: r[k] for k in COMPARED} == {k: ref[k] for k in COMPARED}, r["step"]


@pytest.fixture(scope="module")
def reference(ray_cluster, tiny_model, tmp_path_factory):
    """An uninterrupted run of the chaos test's job."""
    out = tmp_path_factory.mktemp("faults")
    run_job(load_config(ROOT / "configs" / "tiny_text_game.yaml", [*chaos_overrides(out, tiny_model, "reference")]))
    return rl_records(out / "reference")


def chaos_overrides(out: Path, tiny_model: str, name: str) -> list[str]:
    return [
        *OVERRIDES, f"run.output_dir={out}", f"run.name={name}", f"run.model={tiny_model}", "run.stages=[rl]",
        "rollout.count=2", "rollout.cpus=0.5", "rollout.threads=1", "rewards.count=2", "learner.count=2",
        "learner.cpus=1", "rollout.timeout_s=20", "rewards.timeout_s=10",
    ]


def test_rl_job_survives_dead_and_hung_workers_and_a_dead_learner_rank(ray_cluster, tiny_model, tmp_path, reference):
    run_dir = tmp_path / "chaos"
    script = Script(run_dir / "metrics.jsonl", [
        (1, "ray::RolloutWorker.generate", SIGKILL),
        (2, "ray::RewardWorker.score", SIGKILL),
        (3, "ray::LearnerRank.train_grpo", SIGKILL),  # the newest checkpoint is step 2: step 3 is done again
        (5, "ray::RolloutWorker.generate", SIGSTOP),  # frozen: cut off after rollout.timeout_s
    ])
    script.start()
    HANG_ONCE.unlink(missing_ok=True)

    def arm_hang():  # after step 6 the next verifier call hangs: cut off after rewards.timeout_s, its batch rescored
        wait_for_step(run_dir / "metrics.jsonl", 6)
        HANG_ONCE.touch()

    threading.Thread(target=arm_hang, daemon=True).start()
    try:
        run_job(load_config(ROOT / "configs" / "tiny_text_game.yaml", chaos_overrides(tmp_path, tiny_model, "chaos")))
    finally:
        HANG_ONCE.unlink(missing_ok=True)
    script.join(timeout=60)
    assert script.error is None and len(script.done) == 4, (script.error, script.done)

    run = rl_records(run_dir)
    assert_complete_and_equal(run, reference)
    last = run[-1]
    assert last["rollout_restarts"] == 2 and last["rollout_retried_prompts"] == 2 + 2  # each fault cost one worker's slice of 2 prompts
    assert last["reward_worker_restarts"] >= 2 and last["reward_retried"] >= 4 + 4 and last["reward_timeouts"] == 0
    assert last["learner_restarts"] == 1 and [r["step"] for r in run if r.get("redone")] == [3]
    discarded = [json.loads(line)["step"] for line in (run_dir / "metrics_discarded.jsonl").read_text().splitlines()]
    assert discarded == [3]  # the first step 3, trained by the learner that died, kept aside


def test_driver_killed_mid_run_resumes_exactly(ray_cluster, tiny_model, tmp_path, reference):
    """SIGKILL the driver (a `ray job submit`-style process attached to the cluster) during step 4,
    rerun the same command: RL resumes from the step-2 checkpoint, and the run's steps equal the
    uninterrupted run's. (Finished stages are skipped on a rerun: tests/e2e/test_cluster_job.py.)"""
    env = {**os.environ, "RAY_ADDRESS": ray_cluster.get_runtime_context().gcs_address}
    command = [RLVR, "train", "--config", str(ROOT / "configs" / "tiny_text_game.yaml"), *chaos_overrides(tmp_path, tiny_model, "killed")]
    driver = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_step(tmp_path / "killed" / "metrics.jsonl", 3)
        driver.kill()  # SIGKILL
        driver.wait(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
    deadline = time.monotonic() + 120  # Ray stops a dead driver's actors
    while any(processes(t) for t in ("ray::RolloutWorker", "ray::RewardWorker", "ray::LearnerRank")) and time.monotonic() < deadline:
        time.sleep(0.2)

    rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resumed from" in rerun.stderr and "at step 2" in rerun.stderr  # logged
    assert_complete_and_equal(rl_records(tmp_path / "killed"), reference)
