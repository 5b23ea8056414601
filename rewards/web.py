"""Verifier for web-page state prediction (RLVR-World domain 2): F1 of the predicted page change.

An answer lists the change in three sections, `New items:`, `Deleted items:`, `Updated items:`, each
followed by item lines (`[ID] role 'name' attributes`) or `None` (worlds/web/tree.py writes them).

Scoring, as the paper's code does (thuml/RLVR-World, lang_wm web reward):
- each section is the SET of its stripped lines (a repeated line counts once); `None` is an ordinary
  item; an item counts only on exact string match within its own section;
- precision = matched / predicted items and recall = matched / true items, both POOLED over the
  three sections, reward = their F1 (in [0, 1]);
- lines before the first header are ignored (a model may think first).
Stricter than the paper's parser, which scores whatever sections it finds: an answer must commit in
every section. Each of the three headers exactly once (any order), each followed by item lines or by
`None` alone. Otherwise the paper's F1 pays for abstaining: leave a section out (or empty, or hedge
`None` beside items) and precision rises on what is left. Our first RL run on recorded pages learned
exactly that (`Deleted items:` written twice, no `Updated items:`): F1 up, exact match 0.
Spellings we accept beyond the official parser (each scores as its canonical form): headers in any
letter case or wrapped in markdown emphasis (`**New items:**`), an item written on its header's line
(`New items: None`; the official parser drops it), `none` in any case, and `- ` / `* ` bullets.
The floor (0) with an error kind for: no text ("empty"), no section header ("no_sections"), a section
missing or repeated ("missing_section", "repeated_section"), a section with no items
("empty_section"), `None` beside items ("none_with_items"), over MAX_ANSWER_CHARS ("too_long"). A
prediction that is not text (e.g. token ids) is "empty".
"""

from __future__ import annotations

from rewards.registry import Verifier, register_verifier
from rewards.types import RewardResult
from worlds.web.tree import SECTIONS, has_items, parse_target

MAX_ANSWER_CHARS = 100_000


def f1_scores(predicted: dict[str, set[str]], truth: dict[str, set[str]]) -> tuple[float, float, float]:
    """(precision, recall, F1) pooled over the sections."""
    matched = sum(len(predicted[h] & truth[h]) for h in SECTIONS)
    n_predicted = sum(len(predicted[h]) for h in SECTIONS)
    n_true = sum(len(truth[h]) for h in SECTIONS)
    precision = matched / n_predicted if n_predicted else 0.0
    recall = matched / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def score(prediction, reference: dict) -> RewardResult:
    """Score one answer against a reference {"target": the true change text}."""
    truth, bad_reference = parse_target(reference["target"])
    if bad_reference:
        raise ValueError(f"the reference target is not a well-formed change ({bad_reference}): {reference['target'][:200]!r}")
    changed = float(has_items(truth))
    text = prediction if isinstance(prediction, str) else ""
    predicted, error = None, None
    if not text.strip():
        error = "empty"
    elif len(text) > MAX_ANSWER_CHARS:
        error = "too_long"
    else:
        predicted, error = parse_target(text)
    if error is not None:
        return RewardResult(0.0, {"precision": 0.0, "recall": 0.0, "f1": 0.0, "exact_match": 0.0, "changed": changed, "parsed": 0.0}, error)
    precision, recall, f1 = f1_scores(predicted, truth)
    exact = float(all(predicted[h] == truth[h] for h in SECTIONS))
    return RewardResult(f1, {"precision": precision, "recall": recall, "f1": f1, "exact_match": exact, "changed": changed, "parsed": 1.0})


def summarize(results: list[RewardResult]) -> dict[str, float]:
    """The paper's Table 2 columns (precision, recall, F1) plus F1 on transitions that change something."""

    def mean(rows: list[RewardResult], key: str) -> float:
        return sum(r.metrics[key] for r in rows) / len(rows) if rows else float("nan")

    changed = [r for r in results if r.metrics.get("changed")]
    unchanged = [r for r in results if not r.metrics.get("changed")]
    n = max(len(results), 1)
    summary = {
        "f1": mean(results, "f1"),
        "precision": mean(results, "precision"),
        "recall": mean(results, "recall"),
        "f1_changed": mean(changed, "f1"),
        "f1_unchanged": mean(unchanged, "f1"),
        "exact_match": mean(results, "exact_match"),
        "num_changed": len(changed),
        "num_samples": len(results),
        "reward_mean": sum(r.reward for r in results) / n,
        "parse_failure_rate": sum(r.error is not None for r in results) / n,
    }
    for kind in sorted({r.error for r in results if r.error}):
        summary[f"errors/{kind}"] = sum(r.error == kind for r in results)
    return summary


register_verifier(Verifier("web", score, summarize))
