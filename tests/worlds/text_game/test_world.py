"""The text-game world's RL prompt mix: the paper's ratio for the configured reward, or the configured one."""

import pytest

from worlds.config import TextGameConfig, WorldConfig
from worlds.registry import get_world


@pytest.mark.parametrize("configured, verifier, mix", [
    (None, "text_game", 0.05),  # task-specific reward: 100 changed to 5 unchanged (PAPER.md)
    (None, "text_game_binary", 0.40),  # binary reward: 100 to 40
    (None, "my_pkg.mod:fn", None),  # a user's verifier: the natural mix
    (0.25, "text_game", 0.25),
])
def test_rl_mix_follows_the_paper_unless_configured(configured, verifier, mix):
    world = get_world(WorldConfig(text_game=TextGameConfig(rl_unchanged_per_changed=configured, builtin_train_rows=10)))
    assert world.rl_unchanged_per_changed(verifier) == mix


def test_examples_say_whether_the_transition_changes():
    world = get_world(WorldConfig(text_game=TextGameConfig(builtin_train_rows=200)))
    changed = [e.meta["changed"] for e in world.examples("train")]
    assert 0 < sum(changed) < len(changed)  # the built-in simulator has both kinds
