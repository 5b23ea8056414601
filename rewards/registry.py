"""Verifiers by name: built-in domains register themselves; users name their own as `module:function`.

A verifier scores one model output against the reference its world provides:
`score(prediction, reference) -> RewardResult` (a plain float is accepted from user functions),
optionally a whole batch at once with `score_batch(predictions, references)` (reward workers use it),
where the prediction is the response text (text worlds) or its token ids (token worlds, e.g. video),
and `summarize(results) -> dict` turns per-sample results into the domain's table.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from rewards.types import RewardResult


def mean_summary(results: list[RewardResult]) -> dict[str, float]:
    """Default summary: mean reward, the mean of every metric, and the count of failed predictions."""
    n = max(len(results), 1)
    out: dict[str, float] = {"num_samples": len(results), "reward_mean": sum(r.reward for r in results) / n}
    keys = sorted({k for r in results for k in r.metrics})
    for key in keys:
        values = [r.metrics[key] for r in results if key in r.metrics]
        out[key] = sum(values) / max(len(values), 1)
    out["num_errors"] = sum(r.error is not None for r in results)
    return out


@dataclass(frozen=True)
class Verifier:
    """A named scorer and the summary of its results."""

    name: str
    score: Callable[[Any, Any], RewardResult]
    summarize: Callable[[list[RewardResult]], dict[str, float]] = mean_summary
    floor: float = 0.0  # the reward of a prediction that cannot be scored (malformed, timed out)
    score_batch: Callable[[list, list], list[RewardResult]] | None = None  # optional: many at once (e.g. one decoder pass)


VERIFIERS: dict[str, Verifier] = {}


def register_verifier(verifier: Verifier) -> Verifier:
    VERIFIERS[verifier.name] = verifier
    return verifier


def _as_result(value: Any) -> RewardResult:
    return value if isinstance(value, RewardResult) else RewardResult(reward=float(value))


def verifier_names() -> list[str]:
    """The registered verifiers' names (the built-in ones included)."""
    import rewards.text_game  # noqa: F401  (registers the built-in verifiers)
    import rewards.video  # noqa: F401
    import rewards.web  # noqa: F401

    return sorted(VERIFIERS)


def get_verifier(name: str) -> Verifier:
    """A registered verifier by name, or a user function given as `package.module:function`."""
    verifier_names()
    if name in VERIFIERS:
        return VERIFIERS[name]
    if ":" not in name:
        raise KeyError(f"no verifier {name!r} (known: {', '.join(sorted(VERIFIERS))}; or give 'module:function')")
    module_name, _, attr = name.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise KeyError(f"verifier {name!r} cannot be loaded: {err}") from err
    return Verifier(name=name, score=lambda prediction, reference: _as_result(fn(prediction, reference)))
