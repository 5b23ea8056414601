"""Web transitions as JSONL, one row per transition (what `rlvr data record-web` writes, and
what a user brings, e.g. converted from the paper's WebArena-derived data):

    {"id": "click-tab/0/1",              # optional: default the 1-based line number
     "episode": "click-tab/0",           # optional: splits of a recording hold out whole episodes
     "task": "click-tab",                # optional: task type (splits may hold out whole types)
     "url": "...", "objective": "...", "previous_action": "click [4]",   # optional, shown in the prompt
     "observation": "Tab 0 (current): <title>\n\n[1] RootWebArea '<title>'\n\t[2] button 'OK'",
     "action": "click [2]",
     "target": "New items:\nNone\n\nDeleted items:\nNone\n\nUpdated items:\n[2] button 'OK' focused: True",
     "next_observation": "..."}          # the tree after; needed only when "target" is absent

`target` is the paper's answer (three sections); when a row has only `next_observation`, it is
computed from the two trees by id (worlds/web/tree.py). A bad row raises DatasetError naming the
file, line and field. A file may be compressed (`.jsonl.xz` or `.jsonl.gz`, as the shipped recordings are).
"""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

from worlds.registry import DatasetError, parse_jsonl
from worlds.web.tree import diff_items, parse_target, parse_tree, render_target

TEXT_FIELDS = ("observation", "action")
OPTIONAL_TEXT_FIELDS = ("id", "episode", "task", "url", "objective", "previous_action", "target", "next_observation")


def validate_row(row: object, where: str) -> dict:
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: a row must be a JSON object, got {type(row).__name__}")
    missing = [f for f in TEXT_FIELDS if f not in row]
    if missing:
        raise DatasetError(f"{where}: missing field(s) {missing}")
    for key in TEXT_FIELDS + OPTIONAL_TEXT_FIELDS:
        if key in row and not isinstance(row[key], (str, int) if key == "id" else str):
            raise DatasetError(f"{where}: field '{key}' must be a string")
    if "target" not in row:
        if "next_observation" not in row:
            raise DatasetError(f"{where}: needs 'target' (the change) or 'next_observation' (the tree after the action)")
        row["target"] = render_target(diff_items(parse_tree(row["observation"]), parse_tree(row["next_observation"])))
    _, error = parse_target(row["target"])
    if error:
        raise DatasetError(f"{where}: field 'target' is not a well-formed change ({error}): three sections 'New items:', 'Deleted items:', 'Updated items:', each with item lines or None")
    return row


def load_rows(path: str | Path) -> list[dict]:
    """All rows of a .jsonl (.jsonl.xz, .jsonl.gz) file, validated; blank lines skipped; each row gets its `line`."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"dataset file not found: {path}")
    opener = {".xz": lzma.open, ".gz": gzip.open}.get(path.suffix, open)
    try:
        with opener(path, "rt", encoding="utf-8") as file:
            text = file.read()
    except (OSError, EOFError, lzma.LZMAError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: not a readable UTF-8 JSONL{path.suffix if opener is not open else ''} file ({err})") from None
    rows = parse_jsonl(str(path), text.splitlines(), validate_row)
    for row in rows:
        row["id"] = str(row.get("id", row["line"]))
        row.setdefault("episode", row["id"])
    return rows
