"""Fixtures for end-to-end tests on the real stack: a tiny model (the Ray cluster fixture is in tests/conftest.py)."""

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny Qwen2 model + BPE tokenizer built from the built-in text-game prompts."""
    from learner.tiny import build_tiny_model
    from worlds.config import TextGameConfig, WorldConfig
    from worlds.registry import get_world

    world = get_world(WorldConfig(text_game=TextGameConfig(prompt_style="state_only", builtin_train_rows=200)))
    texts = [ex.prompt + ex.answer for ex in world.examples("train")]
    return str(build_tiny_model(texts, tmp_path_factory.mktemp("tiny_model")))
