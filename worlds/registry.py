"""Worlds (domains) by name.

A world provides the examples of a split, each with its prompt, the reference its verifier scores
against, and the reference answer (the MLE target); plus the name of its verifier.

Text worlds give prompts and answers as text (the model's tokenizer encodes them; the verifier gets
the decoded response text). Token worlds (video) have no text tokenizer: they give token ids, a
generation plan, and `vocab_size` / `special_ids` attributes for building a model from scratch; their
verifier gets the response token ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from worlds.config import WorldConfig


class DatasetError(ValueError):
    """A dataset file or row that cannot be used, with its location (file:line, field) in the message."""


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
class Plan:
    """Interactive generation, domain-free: generate `generate` tokens, append the next list of
    `append`, generate again, ... (len(append) + 1 generated segments of fixed length). With
    `allowed` = [lo, hi), generated tokens are sampled from that id range only (and trained so)."""

    generate: int
    append: list[list[int]] = field(default_factory=list)
    allowed: list[int] | None = None


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


WORLDS: dict[str, Callable[[WorldConfig], Any]] = {}


def register_world(name: str):
    def wrap(factory):
        WORLDS[name] = factory
        return factory

    return wrap


def get_world(config: WorldConfig, workdir: str | None = None):
    """Build the configured world; `workdir` (the run directory) keeps what it trains (video: the frame tokenizer)."""
    import worlds.text_game.world  # noqa: F401  (registers the built-in worlds)
    import worlds.video.world  # noqa: F401
    import worlds.web.world  # noqa: F401

    if config.name not in WORLDS:
        raise KeyError(f"unknown world {config.name!r}; registered: {sorted(WORLDS)}")
    return WORLDS[config.name](config, workdir)
