"""Worlds by name."""

import pytest

from worlds.config import WorldConfig
from worlds.registry import WORLDS, get_world


def test_text_game_is_registered():
    world = get_world(WorldConfig())
    assert "text_game" in WORLDS and world.verifier == "text_game"


def test_unknown_world_is_a_clear_error():
    cfg = WorldConfig().model_copy(update={"name": "chess"})
    with pytest.raises(KeyError, match="unknown world 'chess'"):
        get_world(cfg)
