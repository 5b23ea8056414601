"""Step metrics: JSONL record, progress line, and Ray gauges (the dashboard's source)."""

import json

from services.metrics import MetricsLogger


def test_metrics_land_in_jsonl_progress_and_ray_gauges(ray_cluster, tmp_path, capsys):
    log = MetricsLogger(tmp_path / "m.jsonl", "rl")
    log.log(3, 10, {"reward_mean": 0.5, "time/step": 1.25, "errors/no_answer": 2})
    record = json.loads((tmp_path / "m.jsonl").read_text())
    assert record["stage"] == "rl" and record["step"] == 3 and record["reward_mean"] == 0.5
    assert "[rl 3/10] reward_mean=0.5" in capsys.readouterr().err
    assert {"reward_mean", "time/step", "errors/no_answer"} <= set(log.gauges)
    assert log.gauges["time/step"].info["name"] == "rlvr_time_step"


def test_metrics_are_tensorboard_scalars_in_the_run_directory(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for stage, steps in (("mle", [(1, {"mle_loss": 3.0}), (2, {"mle_loss": 2.5})]), ("rl", [(1, {"reward_mean": 0.25, "name": "x"})])):
        log = MetricsLogger(tmp_path / "metrics.jsonl", stage)
        for step, metrics in steps:
            log.log(step, 2, metrics)
        log.close()
    board = EventAccumulator(str(tmp_path / "tensorboard"))
    board.Reload()
    assert set(board.Tags()["scalars"]) == {"mle/mle_loss", "rl/reward_mean"}  # numbers only
    assert [(e.step, e.value) for e in board.Scalars("mle/mle_loss")] == [(1, 3.0), (2, 2.5)]
    assert [(e.step, e.value) for e in board.Scalars("rl/reward_mean")] == [(1, 0.25)]
