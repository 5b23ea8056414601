"""After a resume the metrics file holds each step once; the records of discarded steps are kept aside."""

import json

from services.metrics import MetricsLogger


def test_discard_after_moves_later_steps_of_the_stage_aside(tmp_path):
    path = tmp_path / "metrics.jsonl"
    mle, rl = MetricsLogger(path, "mle"), MetricsLogger(path, "rl")
    mle.log(1, 2, {"mle_loss": 1.0})
    for step in range(1, 6):
        rl.log(step, 5, {"reward_mean": step / 10})
    assert rl.discard_after(3) == [4, 5]
    kept = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["stage"], r["step"]) for r in kept] == [("mle", 1), ("rl", 1), ("rl", 2), ("rl", 3)]
    aside = [json.loads(line) for line in (tmp_path / "metrics_discarded.jsonl").read_text().splitlines()]
    assert [r["step"] for r in aside] == [4, 5] and aside[0]["reward_mean"] == 0.4
    assert rl.discard_after(3) == [] and MetricsLogger(tmp_path / "none.jsonl", "rl").discard_after(0) == []


def test_an_unwritable_metrics_file_is_an_error_naming_it_and_what_to_do(tmp_path):
    import pytest

    from services.run import RunDirError

    (tmp_path / "metrics.jsonl").symlink_to("/dev/full")
    with pytest.raises(RunDirError, match=rf"cannot write {tmp_path / 'metrics.jsonl'} \(No space left on device\): free space .* rerun the same command"):
        MetricsLogger(tmp_path / "metrics.jsonl", "rl").log(1, 2, {"reward_mean": 0.5})
