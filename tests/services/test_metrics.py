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
