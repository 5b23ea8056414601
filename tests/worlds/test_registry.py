"""Worlds by name: the built-in ones, and a user's world given as module:factory."""

import pytest
from pydantic import ValidationError

from worlds.config import WorldConfig
from worlds.registry import WORLDS, Example, WorldError, get_world


def test_text_game_is_registered():
    world = get_world(WorldConfig())
    assert "text_game" in WORLDS and world.verifier == "text_game"


def test_unknown_world_is_a_clear_error():
    with pytest.raises(ValidationError, match="unknown world 'chess': one of text_game, video, web, dataset, or 'module:factory'"):
        WorldConfig(name="chess")
    cfg = WorldConfig().model_copy(update={"name": "chess"})
    with pytest.raises(WorldError, match="unknown world 'chess'"):
        get_world(cfg)


class CounterWorld:
    """A user's world: a counter that an action increments."""

    verifier = "tests.worlds.test_registry:exact"

    def __init__(self, config, workdir):
        self.start = config.options.get("start", 0)

    def examples(self, split):
        return [Example(id=f"{split}-{i}", prompt=f"counter {i} +1 ->", reference=str(i + 1), answer=str(i + 1))
                for i in range(self.start, self.start + 3)]


def exact(prediction: str, reference: str) -> float:
    return float(prediction.strip() == reference)


def not_a_world(config, workdir):
    return {}


def test_a_world_given_as_module_factory_gets_its_options():
    world = get_world(WorldConfig(name="tests.worlds.test_registry:CounterWorld", options={"start": 5}))
    assert [e.reference for e in world.examples("train")] == ["6", "7", "8"]


@pytest.mark.parametrize("name, message", [
    ("tests.worlds.no_such_module:World", "cannot be loaded (ModuleNotFoundError"),
    ("tests.worlds.test_registry:NoSuchFactory", "cannot be loaded (AttributeError"),
    ("tests.worlds.test_registry:not_a_world", "returned dict, which is not a World"),
])
def test_a_user_world_that_does_not_load_names_the_field(name, message):
    with pytest.raises(WorldError, match=r"world.name: .*" + message.replace("(", r"\(")):
        get_world(WorldConfig(name=name))
