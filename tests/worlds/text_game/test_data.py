"""Loading ByteSized32 rows: real file, zip and jsonl, bad rows reported with their location."""

import json
import zipfile

import pytest

from tests.conftest import BYTESIZED32_RULES, require
from worlds.text_game.data import DatasetError, load_rows, load_rules, row_id


def test_real_test_set_loads(bytesized32_rows):
    assert len(bytesized32_rows) == 2954
    assert len({row_id(r) for r in bytesized32_rows}) == 2954
    assert len({r["game"] for r in bytesized32_rows}) == 31


def test_real_rules_load():
    rules = load_rules(require(BYTESIZED32_RULES))
    assert {"lit-lightbulb", "dishwasher"} <= set(rules)
    assert all(set(r) == {"object", "action", "score"} for r in rules.values())


def _write(tmp_path, lines, name="d.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_jsonl_and_zip_give_the_same_rows(tmp_path, bytesized32_rows):
    lines = [json.dumps({k: v for k, v in r.items() if k != "line"}) for r in bytesized32_rows[:5]]
    jsonl = _write(tmp_path, lines)
    zpath = tmp_path / "d.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.write(jsonl, "inner/test.jsonl")
    assert load_rows(jsonl) == load_rows(zpath)


def test_bad_rows_are_reported_with_file_and_line(tmp_path, bytesized32_rows):
    good = json.dumps({k: v for k, v in bytesized32_rows[0].items() if k != "line"})
    with pytest.raises(DatasetError, match=r"d.jsonl:3: invalid JSON"):
        load_rows(_write(tmp_path, [good, good, '{"game": ']))
    no_game = json.loads(good)
    del no_game["game"]
    with pytest.raises(DatasetError, match=r"d.jsonl:2: missing field\(s\) \['game'\]"):
        load_rows(_write(tmp_path, [good, json.dumps(no_game)]))
    bad_obj = json.loads(good)
    bad_obj["tick_state"]["objects"][1]["uuid"] = "two"
    with pytest.raises(DatasetError, match=r"d.jsonl:1: 'tick_state.objects\[1\]'"):
        load_rows(_write(tmp_path, [json.dumps(bad_obj)]))
    with pytest.raises(DatasetError, match="not found"):
        load_rows(tmp_path / "nope.jsonl")
    with pytest.raises(DatasetError, match="no rows"):
        load_rows(_write(tmp_path, ["", "  "]))
