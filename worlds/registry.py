"""Worlds (domains) by name.

A world provides the examples of a split, each with its prompt text, the reference its verifier
scores against, and the reference answer (the MLE target); plus the name of its verifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from worlds.config import WorldConfig


@dataclass
class Example:
    """One transition as the rest of the system sees it."""

    id: str
    prompt: str
    reference: Any
    answer: str
    meta: dict = field(default_factory=dict)


WORLDS: dict[str, Callable[[WorldConfig], Any]] = {}


def register_world(name: str):
    def wrap(factory):
        WORLDS[name] = factory
        return factory

    return wrap


def get_world(config: WorldConfig):
    """Build the configured world."""
    import worlds.text_game.world  # noqa: F401  (registers the built-in worlds)

    if config.name not in WORLDS:
        raise KeyError(f"unknown world {config.name!r}; registered: {sorted(WORLDS)}")
    return WORLDS[config.name](config)
