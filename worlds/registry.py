"""Worlds (domains) by name.

A world provides the examples of a split, each with its prompt, the reference its verifier scores
against, and the reference answer (the MLE target); plus the name of its verifier.

Text worlds give prompts and answers as text (the model's tokenizer encodes them; the verifier gets
the decoded response text). Token worlds (video) have no text tokenizer: they give token ids, a
generation plan, and `vocab_size` / `special_ids` attributes for building a model from scratch; their
verifier gets the response token ids.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

from core.protocol import Plan
from worlds.config import WorldConfig


class DatasetError(ValueError):
    """A dataset file or row that cannot be used, with its location (file:line, field) in the message."""


class WorldError(ValueError):
    """A world (world.name) that cannot be built: unknown, or a module:factory that does not load."""


def parse_jsonl(name: str, lines: list[str], validate: Callable[[object, str], dict]) -> list[dict]:
    """The rows of JSONL text, each checked by `validate(row, "file:line")` and given its `line` (if it has none);
    blank lines skipped; a bad line or an empty file raises DatasetError naming it."""
    rows = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DatasetError(f"{name}:{lineno}: invalid JSON ({err.msg} at column {err.colno})") from None
        row = validate(row, f"{name}:{lineno}")
        row.setdefault("line", lineno)
        rows.append(row)
    if not rows:
        raise DatasetError(f"{name}: no rows")
    return rows


@dataclass
class Example:
    """One transition as the rest of the system sees it."""

    id: str
    prompt: str
    reference: Any
    answer: str
    meta: dict = field(default_factory=dict)
    prompt_ids: list[int] | None = None  # token worlds: the prompt as token ids (no text tokenizer)
    answer_ids: list[int] | None = None  # token worlds: the MLE target as token ids
    answer_mask: list[int] | None = None  # token worlds: 1 where answer_ids is trained on, 0 where given (actions)
    plan: Plan | None = None  # token worlds: how the response is generated


@runtime_checkable
class World(Protocol):
    """What every world provides: the examples of a split (train / validation / test), and the name of
    its verifier (None: the job must set rewards.verifier)."""

    verifier: str | None

    def examples(self, split: str) -> list[Example]: ...


@runtime_checkable
class TokenWorld(Protocol):
    """A world without a text tokenizer (video): its examples carry token ids and a plan; a model is
    built from scratch over its vocabulary."""

    vocab_size: int
    special_ids: dict[str, int]


@runtime_checkable
class MixedWorld(Protocol):
    """A world whose RL prompts mix changed and unchanged transitions at a ratio (the paper's RL sets)."""

    def rl_unchanged_per_changed(self, verifier: str) -> float | None: ...


@runtime_checkable
class BaselineWorld(Protocol):
    """A world with fixed answers scored beside the models in evaluation (web: "nothing changes")."""

    def baselines(self, examples: list[Example]) -> dict[str, list]: ...


@runtime_checkable
class ReportingWorld(Protocol):
    """A world that draws or writes its predictions for a person to look at (video strips, web samples)."""

    def report(self, run_dir: str | Path, examples: list[Example], predictions: dict[str, list]) -> Path: ...


WORLDS: dict[str, Callable[[WorldConfig], Any]] = {}


def register_world(name: str):
    def wrap(factory):
        WORLDS[name] = factory
        return factory

    return wrap


def get_world(config: WorldConfig, workdir: str | None = None) -> World:
    """Build the configured world; `workdir` (the run directory) keeps what it trains (video: the frame
    tokenizer). A name `module:factory` imports the factory and calls it the same way: a user's world
    is a World (`examples(split) -> list[Example]` and `verifier`, a name or None to require
    rewards.verifier); the other protocols (TokenWorld, MixedWorld, BaselineWorld, ReportingWorld) are optional."""
    import worlds.dataset  # noqa: F401  (registers the built-in worlds)
    import worlds.text_game.world  # noqa: F401
    import worlds.video.world  # noqa: F401
    import worlds.web.world  # noqa: F401

    if config.name in WORLDS:
        return WORLDS[config.name](config, workdir)
    module_name, colon, attr = config.name.partition(":")
    if not colon:
        raise WorldError(f"world.name: unknown world {config.name!r}; registered: {sorted(WORLDS)}, or give 'module:factory'")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise WorldError(f"world.name: {config.name!r} cannot be loaded ({type(err).__name__}: {err}); is the module on the path?") from None
    world = factory(config, workdir)
    if not isinstance(world, World):
        raise WorldError(f"world.name: {config.name!r} returned {type(world).__name__}, which is not a World: it needs an "
                         f"examples(split) method and a verifier attribute (a verifier name, or None to require rewards.verifier)")
    return world
