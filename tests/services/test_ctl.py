"""services/ctl.py's glue without a cluster: parsing `scale` arguments, the control point's rules."""

import pytest

from services.ctl import JobControl, parse_sizes


def test_parse_sizes():
    assert parse_sizes(["rollout=4", "rewards=2"]) == {"rollout": 4, "rewards": 2}
    for bad in (["rollout=0"], ["learner=2"], ["rollout"], ["rollout=two"], []):
        with pytest.raises(SystemExit, match="error: scale"):
            parse_sizes(bad)


def test_job_control_keeps_wanted_sizes_and_stop():
    control = JobControl("01000000", {"rollout": 1, "rewards": 1})
    assert control.scale({"rollout": 3}) == {"rollout": 3, "rewards": 1}
    with pytest.raises(ValueError, match="rollout=0"):
        control.scale({"rollout": 0})
    assert control.wanted() == ({"rollout": 3, "rewards": 1}, False)
    control.request_stop()
    control.report({"step": 5})
    assert control.get_status() == {"wanted": {"rollout": 3, "rewards": 1}, "stop_requested": True, "step": 5}


def test_a_later_run_of_the_same_job_takes_over_and_another_job_cannot():
    control = JobControl("01000000", {"rollout": 1, "rewards": 1})
    control.scale({"rollout": 3})
    control.request_stop()
    assert control.claim("01000000", {"rollout": 2, "rewards": 1}) and control.wanted() == ({"rollout": 2, "rewards": 1}, False)
    assert not control.claim("02000000", {"rollout": 5, "rewards": 1}) and control.wanted()[0]["rollout"] == 2
