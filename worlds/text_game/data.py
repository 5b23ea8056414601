"""Loading ByteSized32-State-Prediction rows (.jsonl, or a .zip holding one .jsonl) and game rules.

A bad row is reported with its file and line number; nothing is silently dropped.
Row ids are `f"{game}_{state_id}"` (the official naming); predictions may also use the 1-based
line number of the row.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from worlds.registry import DatasetError, parse_jsonl  # DatasetError re-exported: raised for bad rows of every world

REQUIRED_FIELDS = ("current_state", "action_state", "tick_state", "current_score_state", "next_score_state", "game", "state_id")
RULE_KINDS = ("object", "action", "score")


def _lines(path: Path) -> tuple[str, list[str]]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            members = [n for n in zf.namelist() if n.endswith(".jsonl")]
            if len(members) != 1:
                raise DatasetError(f"{path}: expected exactly one .jsonl inside the zip, found {members}")
            text = io.TextIOWrapper(zf.open(members[0]), encoding="utf-8").read()
            return f"{path}!{members[0]}", text.splitlines()
    return str(path), path.read_text(encoding="utf-8").splitlines()


def validate_row(row: object, where: str) -> dict:
    """Check one row's fields and types; raise DatasetError naming `where` (file:line) and the field."""
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: a row must be a JSON object, got {type(row).__name__}")
    missing = [f for f in REQUIRED_FIELDS if f not in row]
    if missing:
        raise DatasetError(f"{where}: missing field(s) {missing}")
    for key in ("current_state", "action_state", "tick_state"):
        state = row[key]
        if not isinstance(state, dict) or not isinstance(state.get("objects"), list):
            raise DatasetError(f"{where}: field '{key}' must be a state with an 'objects' list")
        for i, obj in enumerate(state["objects"]):
            if not isinstance(obj, dict) or not isinstance(obj.get("uuid"), int) or not isinstance(obj.get("properties"), dict):
                raise DatasetError(f"{where}: '{key}.objects[{i}]' must have an integer 'uuid' and a 'properties' object")
    for key in ("current_score_state", "next_score_state"):
        if not isinstance(row[key], dict):
            raise DatasetError(f"{where}: field '{key}' must be an object")
    return row


def load_rows(path: str | Path) -> list[dict]:
    """All rows of a .jsonl / .zip file, validated; blank lines are skipped."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"dataset file not found: {path}")
    return parse_jsonl(*_lines(path), validate_row)


def row_id(row: dict) -> str:
    return f"{row['game']}_{row['state_id']}"


def load_rules(rules_dir: str | Path) -> dict[str, dict[str, str]]:
    """{game: {"object": ..., "action": ..., "score": ...}} from the official `*_rules.json` files."""
    rules_dir = Path(rules_dir)
    per_kind = {}
    for kind in RULE_KINDS:
        path = rules_dir / f"{kind}_rules.json"
        if not path.exists():
            raise DatasetError(f"rules file not found: {path}")
        per_kind[kind] = json.loads(path.read_text(encoding="utf-8"))
    games = set().union(*per_kind.values())
    return {g: {kind: per_kind[kind].get(g, "") for kind in RULE_KINDS} for g in games}
