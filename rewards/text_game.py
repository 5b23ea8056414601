"""Verifier for text-game state prediction (RLVR-World domain 1, ByteSized32-State-Prediction).

Decoding: take the text after "The final answer is:" (fallback: the last ```json block), parse it
with `json_repair` (a maintained library; models write sloppy JSON: stray quotes, trailing commas),
rebuild the next state = current state + diff, and compare it with the reference unit by unit (each
object property, each object's `contains` as a multiset, each score field).

What counts as an answer (anything else scores 0 with its error kind, like the paper's `json.loads`):
- complete JSON: every `{` / `[` opened outside a string is closed ("truncated" otherwise; a repair
  must not turn `{"modified": [` cut by the token limit into the empty diff `{"modified": []}`);
- an object holding a state diff: at least one of `modified` / `removed`, and no top-level key but
  `modified`, `removed`, `score` ("not_a_diff": e.g. `{}`, or `{"action": "look", "result": "ok"}`);
- sections of the right shape ("bad_diff"); an empty section may be written `[]`, `{}` or `null`, or
  left out (`score` left out or empty: the score does not change).

Rewards (PAPER.md):
- binary: 1 when every object and score field is right, else 0;
- task-specific (Eq. 4): 0.1 * acc_all + 1.0 * acc_changed + 0.2 * I(fully correct), with the
  acc_changed term dropped when nothing should change. We divide by the sum of the active weights
  (1.3, or 0.3) so a perfect answer scores exactly 1.0; the divisor is the same for every sample of
  a prompt's group, so GRPO's group-normalised advantages are unchanged by it.
Any failure to decode is reward 0 with the error kind recorded (never an exception).
"""

from __future__ import annotations

import re
from typing import Any

import json_repair

from rewards.registry import Verifier, register_verifier
from rewards.types import RewardResult
from worlds.text_game.prompt import ANSWER_MARKER
from worlds.text_game.state import DiffError, apply_diff, by_uuid, flatten, same_value

MAX_ANSWER_CHARS = 100_000  # longer answers are rejected before parsing ("too_long")
MAX_JSON_DEPTH = 32  # real diffs nest ~6 deep; deeper answers are rejected ("too_deep")
W_ALL, W_CHANGED, W_EXACT = 0.1, 1.0, 0.2
_JSON_BLOCK = re.compile(r"```json\s*(.*?)(?:```|$)", re.DOTALL)


def extract_answer(text: str) -> str | None:
    """The answer part of a model output: after the last marker, else the last ```json block."""
    if ANSWER_MARKER in text:
        answer = text.rsplit(ANSWER_MARKER, 1)[1]
        blocks = _JSON_BLOCK.findall(answer)
        return blocks[0] if blocks else answer
    blocks = _JSON_BLOCK.findall(text)
    return blocks[-1] if blocks else None


DIFF_KEYS = {"modified", "removed", "score"}


def _nesting(text: str) -> tuple[int, int]:
    """(deepest nesting, brackets left open at the end) of JSON text, brackets inside strings ignored."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            escaped, in_string = (not escaped and ch == "\\"), in_string and (escaped or ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(depth - 1, 0)
    return deepest, depth


def parse_diff(text: str) -> tuple[Any, str | None]:
    """(parsed diff, None) or (None, error kind); see the module docstring for what counts as an answer."""
    answer = extract_answer(text)
    if answer is None or "{" not in answer:
        return None, "no_answer"
    if len(answer) > MAX_ANSWER_CHARS:
        return None, "too_long"
    answer = answer[answer.index("{"):]
    deepest, open_at_end = _nesting(answer)
    if deepest > MAX_JSON_DEPTH:
        return None, "too_deep"
    if open_at_end:
        return None, "truncated"
    try:
        parsed = json_repair.loads(answer)
    except (RecursionError, ValueError, TypeError):
        return None, "invalid_json"
    if not isinstance(parsed, dict):
        return None, "invalid_json"
    if not ({"modified", "removed"} & parsed.keys()) or parsed.keys() - DIFF_KEYS:
        return None, "not_a_diff"
    return parsed, None


def _reference_units(reference: dict) -> tuple[dict, dict, list]:
    """Flattened current and target states, and the units that should change between them."""
    current = flatten(by_uuid(reference["current_objects"]), reference["current_score"])
    target = flatten(by_uuid(reference["next_objects"]), reference["next_score"])
    changed = [k for k in target.keys() | current.keys() if not (k in target and k in current and same_value(target[k], current[k]))]
    return current, target, changed


def compare_states(reference: dict, predicted_objects: dict, predicted_score: dict) -> dict[str, float]:
    """Exact match, property accuracy over all units, and accuracy over the units that should change."""
    _, target, changed = _reference_units(reference)
    pred = flatten(predicted_objects, predicted_score)

    def right(key: tuple) -> bool:
        if key not in target or key not in pred:
            return (key in target) == (key in pred)
        return same_value(target[key], pred[key])

    all_keys = target.keys() | pred.keys()
    num_right = sum(right(k) for k in all_keys)
    metrics = {
        "changed": float(bool(changed)),
        "exact_match": float(num_right == len(all_keys)),
        "property_accuracy": num_right / max(len(all_keys), 1),
    }
    if changed:
        metrics["changed_property_accuracy"] = sum(right(k) for k in changed) / len(changed)
    return metrics


def rewards_from_metrics(metrics: dict[str, float]) -> tuple[float, float]:
    """(binary reward, normalised task-specific reward) from compare_states' metrics."""
    exact, acc_all = metrics["exact_match"], metrics["property_accuracy"]
    if "changed_property_accuracy" in metrics:
        task = (W_ALL * acc_all + W_CHANGED * metrics["changed_property_accuracy"] + W_EXACT * exact) / (
            W_ALL + W_CHANGED + W_EXACT
        )
    else:
        task = (W_ALL * acc_all + W_EXACT * exact) / (W_ALL + W_EXACT)
    return exact, task


def score(prediction: str, reference: dict, reward: str = "task") -> RewardResult:
    """Score one model output against a reference {current_objects, current_score, next_objects, next_score}."""
    diff, error = parse_diff(prediction if isinstance(prediction, str) else "")
    if error is None:
        try:
            objects, new_score = apply_diff(reference["current_objects"], reference["current_score"], diff)
            metrics = compare_states(reference, objects, new_score)
        except DiffError:
            error = "bad_diff"
    if error is not None:
        metrics = {"changed": float(bool(_reference_units(reference)[2])), "exact_match": 0.0, "property_accuracy": 0.0}
        return RewardResult(0.0, {**metrics, "parsed": 0.0, "binary_reward": 0.0, "task_reward": 0.0}, error)
    binary, task = rewards_from_metrics(metrics)
    metrics.update(parsed=1.0, binary_reward=binary, task_reward=task)
    return RewardResult(task if reward == "task" else binary, metrics)


def summarize(results: list[RewardResult]) -> dict[str, float]:
    """The paper's Table 1 columns (exact-match accuracy on unchanged / changed / all) plus reward stats."""

    def accuracy(rows: list[RewardResult]) -> float:
        return sum(r.metrics["exact_match"] for r in rows) / len(rows) if rows else float("nan")

    unchanged = [r for r in results if not r.metrics.get("changed")]
    changed = [r for r in results if r.metrics.get("changed")]
    n = max(len(results), 1)
    summary = {
        "accuracy_unchanged": accuracy(unchanged),
        "accuracy_changed": accuracy(changed),
        "accuracy_overall": accuracy(results),
        "num_unchanged": len(unchanged),
        "num_changed": len(changed),
        "num_samples": len(results),
        "reward_mean": sum(r.reward for r in results) / n,
        "property_accuracy": sum(r.metrics.get("property_accuracy", 0.0) for r in results) / n,
        "parse_failure_rate": sum(r.error is not None for r in results) / n,
    }
    for kind in sorted({r.error for r in results if r.error}):
        summary[f"errors/{kind}"] = sum(r.error == kind for r in results)
    return summary


register_verifier(Verifier("text_game", lambda p, ref: score(p, ref, "task"), summarize))
register_verifier(Verifier("text_game_binary", lambda p, ref: score(p, ref, "binary"), summarize))
