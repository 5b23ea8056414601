"""Loading web transition rows: the documented JSONL, bad rows named by file and line."""

import json

import pytest

from worlds.registry import DatasetError
from worlds.web.data import load_rows

OBS = "Tab 0 (current): T\n\n[1] RootWebArea 'T' focused: True\n\t[2] button 'OK'"
NEXT = "Tab 0 (current): T\n\n[1] RootWebArea 'T'\n\t[2] button 'OK' focused: True\n\t[3] StaticText 'done'"


def write(tmp_path, rows):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_rows_with_a_target_or_only_the_tree_after(tmp_path):
    rows = load_rows(write(tmp_path, [
        {"id": "a", "observation": OBS, "action": "click [2]", "target": "New items:\nNone\n\nDeleted items:\nNone\n\nUpdated items:\nNone"},
        "",
        {"observation": OBS, "action": "click [2]", "next_observation": NEXT},
    ]))
    assert [r["id"] for r in rows] == ["a", "3"] and [r["line"] for r in rows] == [1, 3]
    assert rows[1]["episode"] == "3"  # no episode: each row its own
    assert rows[1]["target"] == (
        "New items:\n[3] StaticText 'done'\n\nDeleted items:\nNone\n\n"
        "Updated items:\n[1] RootWebArea 'T'\n[2] button 'OK' focused: True"
    )


@pytest.mark.parametrize("row, message", [
    ("{not json", r"d.jsonl:2: invalid JSON"),
    ({"observation": OBS}, r"d.jsonl:2: missing field\(s\) \['action'\]"),
    ({"observation": OBS, "action": 3, "target": "x"}, r"d.jsonl:2: field 'action' must be a string"),
    ({"observation": OBS, "action": "click [2]"}, r"d.jsonl:2: needs 'target'"),
    ([1, 2], r"d.jsonl:2: a row must be a JSON object"),
    ({"observation": OBS, "action": "click [2]", "target": "New items:\nNone"}, r"d.jsonl:2: field 'target' is not a well-formed change \(missing_section\)"),
])
def test_a_bad_row_is_named_by_file_and_line(tmp_path, row, message):
    good = {"observation": OBS, "action": "click [2]", "next_observation": NEXT}
    with pytest.raises(DatasetError, match=message):
        load_rows(write(tmp_path, [good, row]))


def test_missing_or_empty_files(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_rows(tmp_path / "nope.jsonl")
    (tmp_path / "e.jsonl").write_text("\n")
    with pytest.raises(DatasetError, match="no rows"):
        load_rows(tmp_path / "e.jsonl")


@pytest.mark.parametrize("suffix, compress", [(".xz", "lzma"), (".gz", "gzip")])
def test_compressed_files_read_as_the_plain_one_and_a_corrupt_one_is_named(tmp_path, suffix, compress):
    import importlib

    plain = write(tmp_path, [{"id": "a", "observation": OBS, "action": "click [2]", "next_observation": NEXT}])
    packed = tmp_path / f"d.jsonl{suffix}"
    packed.write_bytes(importlib.import_module(compress).compress(plain.read_bytes()))
    assert load_rows(packed) == load_rows(plain)
    (tmp_path / f"bad.jsonl{suffix}").write_bytes(plain.read_bytes()[:40])
    with pytest.raises(DatasetError, match=f"bad.jsonl{suffix}: not a readable UTF-8 JSONL{suffix} file"):
        load_rows(tmp_path / f"bad.jsonl{suffix}")
