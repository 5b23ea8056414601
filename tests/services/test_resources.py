"""The fail-fast resource check (services/resources.py) on hand-written cluster shapes: what it accepts,
and that what it refuses names the config fields and the cluster's totals."""

import pytest

from services.config import load_config
from services.resources import ResourceError, check, roles

TINY = "configs/tiny_text_game.yaml"


def test_roles_read_counts_and_shapes_from_the_config():
    cfg = load_config(TINY, ["rollout.count=3", "rollout.gpus=0.5", "rewards.resources.reward_slot=2"])
    by_name = {r.name: r for r in roles(cfg)}
    assert by_name["rollout"].count == 3 and by_name["rollout"].shape == {"CPU": 1.0, "GPU": 0.5}
    assert by_name["reward"].shape == {"CPU": 0.25, "reward_slot": 2.0}
    assert by_name["reward"].shape_fields["reward_slot"] == "rewards.resources.reward_slot"
    assert by_name["learner"].shape == {"CPU": 2.0}


def test_a_demand_that_fits_passes():
    check(load_config(TINY), {"CPU": 4.0}, [{"CPU": 4.0}])  # 2 + 1 + 0.25


def test_too_many_cpus_names_every_term_and_the_total():
    cfg = load_config(TINY, ["rollout.count=4"])
    with pytest.raises(ResourceError) as err:
        check(cfg, {"CPU": 2.0}, [{"CPU": 2.0}])
    msg = str(err.value)
    assert ("stage rl, CPU: learner.count=1 x learner.cpus=2 + rollout.count=4 x rollout.cpus=1"
            " + rewards.count=1 x rewards.cpus=0.25 = 6.25, but the cluster has 2 CPU") in msg
    assert "stage eval, CPU: rollout.count=4" in msg


def test_only_the_configured_stages_count():
    check(load_config(TINY, ["rollout.count=40", "run.stages=[mle]"]), {"CPU": 2.0}, [{"CPU": 2.0}])


def test_pools_started_by_an_earlier_stage_count_in_later_ones():
    check(load_config(TINY, ["run.stages=[mle,eval]"]), {"CPU": 3.0}, [{"CPU": 3.0}])  # 2, then 1 + 0.25
    with pytest.raises(ResourceError, match=r"stage mle, CPU: learner.count=1 x learner.cpus=2 \+ rollout.count=1"):
        check(load_config(TINY, ["run.stages=[eval,mle]"]), {"CPU": 3.0}, [{"CPU": 3.0}])  # the eval pools are still up


def test_an_actor_larger_than_any_node_fails_even_when_the_total_is_enough():
    cfg = load_config(TINY, ["learner.gpus=2"])
    with pytest.raises(ResourceError, match=r"one learner actor needs learner.cpus = 2 CPU, learner.gpus = 2 GPU"):
        check(cfg, {"CPU": 16.0, "GPU": 2.0}, [{"CPU": 8.0, "GPU": 1.0}, {"CPU": 8.0, "GPU": 1.0}])


def test_a_custom_resource_no_node_provides_fails_and_autoscaling_is_named():
    cfg = load_config(TINY, ["rollout.resources.rollout_slot=1"])
    with pytest.raises(ResourceError, match=r"rollout_slot: rollout.count=1 x rollout.resources.rollout_slot=1 = 1, but the cluster can autoscale to 0"):
        check(cfg, {"CPU": 8.0}, [{"CPU": 8.0}], autoscaled=True)
