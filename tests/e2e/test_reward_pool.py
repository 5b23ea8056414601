"""The reward pool on a real Ray cluster: parallel scoring, timeouts and verifier crashes are counted floors."""

import time

from rewards.config import RewardConfig
from rewards.pool import RewardPool
from worlds.text_game.prompt import render_answer
from worlds.text_game.world import reference


def slow_or_crashing(prediction, reference):
    """A user verifier (named as module:function): sleeps on 'hang', raises on 'crash'."""
    if prediction == "hang":
        time.sleep(60)
    if prediction == "crash":
        raise RuntimeError("boom")
    return 1.0


def test_pool_scores_real_rows_in_order(ray_cluster, bytesized32_rows):
    rows = bytesized32_rows[:50]
    preds = [render_answer(r) if i % 2 == 0 else "no idea" for i, r in enumerate(rows)]
    pool = RewardPool(RewardConfig(count=2, batch_size=8), "text_game")
    try:
        results = pool.score(preds, [reference(r) for r in rows])
    finally:
        pool.shutdown()
    assert [r.reward for r in results] == [1.0 if i % 2 == 0 else 0.0 for i in range(50)]
    assert all(r.error == "no_answer" for r in results[1::2])


def test_timeouts_and_crashes_are_floor_rewards_and_workers_are_replaced(ray_cluster):
    pool = RewardPool(RewardConfig(count=2, batch_size=1, timeout_s=3.0), "tests.e2e.test_reward_pool:slow_or_crashing")
    try:
        start = time.monotonic()
        results = pool.score(["ok", "hang", "crash", "ok", "ok"], [None] * 5)
        elapsed = time.monotonic() - start
        assert [r.reward for r in results] == [1.0, 0.0, 0.0, 1.0, 1.0]
        assert results[1].error == "timeout" and "boom" in results[2].error
        assert pool.timeouts == 1 and pool.restarts == 1 and elapsed < 30
        assert pool.score(["ok"], [None])[0].reward == 1.0  # the replacement worker serves
    finally:
        pool.shutdown()


def test_a_failing_batch_scorer_is_counted_and_its_samples_scored_one_by_one(ray_cluster, caplog):
    """The video verifier's batch path raises (its frame tokenizer is missing): the batch is counted and
    logged, and each sample is scored alone (here each floors with the exception named)."""
    import numpy as np

    reference = {"frames": np.zeros((1, 8, 8, 3), np.uint8), "tokenizer": "/nonexistent/tokenizer", "tokens_per_frame": 2,
                 "action_tokens": 0, "lpips_net": "alex"}
    pool = RewardPool(RewardConfig(count=1, batch_size=4), "video")
    try:
        results = pool.score([[1, 2]] * 3, [reference] * 3)
    finally:
        pool.shutdown()
    assert pool.batch_failures == 1 and all(r.error.startswith("verifier_exception") for r in results)
    assert "the video verifier's batch scorer failed" in caplog.text
