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


def test_rl_job_survives_dead_and_hung_workers_a_dead_learner_rank_and_a_killed_driver(ray_cluster, tiny_model, tmp_path, reference):
    """The job runs as `rlvr train` attached to the test's cluster (as `ray job submit` runs it). Its first
    driver loses a rollout worker, a reward worker and a learner rank, and is then killed itself (SIGKILL)
    during step 6; the same command, rerun, resumes from the step-4 checkpoint, and loses a frozen rollout
    worker and a hung verifier call. The run's steps equal the uninterrupted run's."""
    run_dir, metrics = tmp_path / "chaos", tmp_path / "chaos" / "metrics.jsonl"
    command = [RLVR, "train", "--config", str(ROOT / "configs" / "tiny_text_game.yaml"), *chaos_overrides(tmp_path, tiny_model, "chaos")]
    env = {**os.environ, "RAY_ADDRESS": ray_cluster.get_runtime_context().gcs_address}
    HANG_ONCE.unlink(missing_ok=True)
    first = Script(metrics, [
        (1, "ray::RolloutWorker.generate", SIGKILL),
        (2, "ray::RewardWorker.score", SIGKILL),
        (3, "ray::LearnerRank.train_grpo", SIGKILL),  # the newest checkpoint is step 2: step 3 is done again
    ])
    first.start()
    driver = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_step(metrics, 5)
        driver.kill()  # SIGKILL, during step 6: the newest checkpoint is step 4
        driver.wait(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
    first.join(timeout=60)
    assert first.error is None and len(first.done) == 3, (first.error, first.done)
    deadline = time.monotonic() + 120  # Ray stops a dead driver's actors
    while any(processes(t) for t in ("ray::RolloutWorker", "ray::RewardWorker", "ray::LearnerRank")) and time.monotonic() < deadline:
        time.sleep(0.2)

    second = Script(metrics, [(5, "ray::RolloutWorker.generate", SIGSTOP)])  # frozen: cut off after rollout.timeout_s

    def arm_hang():  # after step 7 the next verifier call hangs: cut off after rewards.timeout_s, its batch rescored
        wait_for_step(metrics, 7)
        HANG_ONCE.touch()

    second.start()
    threading.Thread(target=arm_hang, daemon=True).start()
    try:
        rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    finally:
        HANG_ONCE.unlink(missing_ok=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resumed from" in rerun.stderr and "at step 4" in rerun.stderr  # logged
    second.join(timeout=60)
    assert second.error is None and len(second.done) == 1, (second.error, second.done)

    run = rl_records(run_dir)
    assert_complete_and_equal(run, reference)
    assert [r["step"] for r in run if r.get("redone")] == [3, 5]
    discarded = [json.loads(line)["step"] for line in (run_dir / "metrics_discarded.jsonl").read_text().splitlines()]
    assert discarded == [3, 5]  # the first step 3, trained by the learner that died, and the step 5 of the killed driver, kept aside
    # each driver counts its own faults: the first's at its last kept step (4), the second's at the end
    for r, rollout_restarts, learner_restarts in ((run[3], 1, 1), (run[-1], 1, 0)):
        assert r["rollout_restarts"] == rollout_restarts and r["rollout_retried_prompts"] == 2 * rollout_restarts, r  # one worker's slice of 2 prompts
        assert r["reward_worker_restarts"] >= 1 and r["reward_retried"] >= 4 and r["reward_timeouts"] == 0, r
        assert r["learner_restarts"] == learner_restarts, r
