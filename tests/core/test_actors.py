"""Actor plumbing without a cluster: resource shapes, ray options, names."""

from core.actors import Shape, actor_name


def test_shapes_options_and_names():
    assert Shape(1.0, 0.0, {"slot": 1}).resources() == {"CPU": 1.0, "slot": 1.0}
    assert Shape(1.0, 0.5).options() == {"num_cpus": 1.0, "num_gpus": 0.5}
    assert Shape(1.0, 0.0, {"slot": 1.0}).options()["resources"] == {"slot": 1.0}
    first, second = actor_name("unit-role"), actor_name("unit-role")
    assert (first, second) == ("unit-role-0", "unit-role-1")
