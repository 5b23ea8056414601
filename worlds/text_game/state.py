"""Text-game states: diffs between states, rebuilding a state from a diff, and flattening for comparison.

A state is a list of objects (`name`, `uuid`, `type`, `properties`, `contains`) plus a score dict
(`score`, `gameOver`, `gameWon`). A diff, the answer format of the paper's "full" setting, is
`{"modified": [full object states added or changed], "removed": [uuids], "score": {new score} or {}}`.
Objects are compared as the official ByteSized32 evaluation does: `properties` exactly and
`contains` as an unordered multiset; a `modified` entry whose uuid is not in the current state is
a new object.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

SCORE_KEYS = ("score", "gameOver", "gameWon")
EMPTY_DIFF: dict = {"modified": [], "removed": [], "score": {}}


class DiffError(ValueError):
    """A prediction parsed as JSON but is not a usable state diff."""


def same_value(a: Any, b: Any) -> bool:
    """JSON equality where true/false never equal 1/0 (Python's `True == 1` would)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, (dict, list, tuple)) or isinstance(b, (dict, list, tuple)):
        return False
    return a == b


def _contains_key(contains: Any) -> Any:
    """Canonical form of a `contains` list: an order-free multiset (anything else stays as is)."""
    if isinstance(contains, list):
        return ("multiset", frozenset(Counter(json.dumps(x, sort_keys=True) for x in contains).items()))
    return ("raw", json.dumps(contains, sort_keys=True))


def same_object(a: dict, b: dict) -> bool:
    """Properties exactly equal and `contains` equal as a multiset."""
    return same_value(a.get("properties"), b.get("properties")) and _contains_key(a.get("contains")) == _contains_key(
        b.get("contains")
    )


def _uuid(obj: Any) -> int:
    if not isinstance(obj, dict):
        raise DiffError(f"an object must be a JSON object, got {type(obj).__name__}")
    uid = obj.get("uuid")
    if isinstance(uid, bool) or not isinstance(uid, (int, str)) or (isinstance(uid, str) and not uid.isdigit()):
        raise DiffError(f"object {str(obj.get('name'))[:40]!r} has no integer uuid")
    return int(uid)


def by_uuid(objects: list) -> dict[int, dict]:
    """Index objects by uuid."""
    return {_uuid(o): o for o in objects}


def compute_diff(current_objects: list, next_objects: list, current_score: dict, next_score: dict) -> dict:
    """The diff that turns (current objects, score) into (next objects, score): the reference answer."""
    cur, nxt = by_uuid(current_objects), by_uuid(next_objects)
    modified = [obj for uid, obj in nxt.items() if uid not in cur or not same_object(cur[uid], obj)]
    removed = [uid for uid in cur if uid not in nxt]
    score_changed = not same_value(dict(current_score), dict(next_score))
    return {"modified": modified, "removed": removed, "score": dict(next_score) if score_changed else {}}


def _empty(section: Any) -> bool:
    return section is None or (isinstance(section, (list, dict)) and not section)


def apply_diff(current_objects: list, current_score: dict, diff: Any) -> tuple[dict[int, dict], dict]:
    """Rebuild the next state from a (model-written) diff. Raises DiffError when the diff is unusable.

    Missing keys mean "no change", and so does an empty section of either container type (`[]`, `{}`)
    or null; a non-empty `score` replaces the score state (as the official evaluation does), so a
    partial score dict gets the missing fields wrong.
    """
    if not isinstance(diff, dict):
        raise DiffError(f"the answer must be a JSON object with modified/removed/score, got {type(diff).__name__}")
    modified, removed, score = (diff.get(key) for key in ("modified", "removed", "score"))
    modified, removed, score = ([] if _empty(modified) else modified), ([] if _empty(removed) else removed), ({} if _empty(score) else score)
    if not isinstance(modified, list):
        raise DiffError("'modified' must be a list of objects")
    if not isinstance(removed, list):
        raise DiffError("'removed' must be a list of uuids")
    if not isinstance(score, dict):
        raise DiffError("'score' must be an object")
    objects = by_uuid(current_objects)
    for uid in removed:
        if isinstance(uid, (dict, str)):  # a whole object or a quoted uuid: take its integer uuid
            uid = _uuid(uid if isinstance(uid, dict) else {"uuid": uid})
        if isinstance(uid, int) and not isinstance(uid, bool):
            objects.pop(uid, None)  # removing an unknown uuid changes nothing
    for obj in modified:
        objects[_uuid(obj)] = obj
    return objects, (dict(score) if score else dict(current_score))


def flatten(objects: dict[int, dict], score: dict) -> dict[tuple, Any]:
    """One comparable unit per object property, per object `contains`, and per score field."""
    units: dict[tuple, Any] = {}
    for uid, obj in objects.items():
        props = obj.get("properties")
        if isinstance(props, dict):
            for key, value in props.items():
                units[("object", uid, "property", key)] = value
        else:
            units[("object", uid, "properties")] = props
        units[("object", uid, "contains")] = _contains_key(obj.get("contains"))
    for key, value in score.items():
        units[("score", key)] = value
    return units


def is_unchanged(current_objects: list, next_objects: list, current_score: dict, next_score: dict) -> bool:
    """True when the next state equals the current one (objects and score)."""
    diff = compute_diff(current_objects, next_objects, current_score, next_score)
    return not (diff["modified"] or diff["removed"] or diff["score"])
