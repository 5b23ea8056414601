"""The dataset world: a user's transitions from JSONL or Parquet, fields named in the config; bad rows
and missing files are reported with their location and the config field."""

import json

import pytest

from worlds.config import DatasetConfig, WorldConfig
from worlds.registry import DatasetError, get_world

ROWS = [
    {"state": "counter 1", "action": "inc", "text": "counter 1, action inc ->", "next": {"counter": 2}, "target": "counter 2", "moved": True, "key": "a"},
    {"state": "counter 2", "action": "noop", "text": "counter 2, action noop ->", "next": {"counter": 2}, "target": "counter 2", "moved": False, "key": "b"},
]
FIELDS = {"prompt_field": "text", "reference_field": "next", "answer_field": "target"}


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def world(**settings):
    return get_world(WorldConfig(name="dataset", dataset=DatasetConfig(**settings)))


def test_jsonl_and_parquet_rows_become_examples_with_named_fields(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "test.parquet")
    w = world(train_path=write_jsonl(tmp_path / "train.jsonl", ROWS), test_path=str(tmp_path / "test.parquet"), **FIELDS)
    for split in ("train", "test"):
        examples = w.examples(split)
        assert [e.prompt for e in examples] == ["counter 1, action inc ->", "counter 2, action noop ->"]
        assert [e.reference for e in examples] == [{"counter": 2}, {"counter": 2}]  # any JSON value, as written
        assert [e.answer for e in examples] == ["counter 2", "counter 2"]
    assert [e.id for e in w.examples("train")] == [f"{tmp_path}/train.jsonl:1", f"{tmp_path}/train.jsonl:2"]
    assert [e.id for e in w.examples("test")] == [f"{tmp_path}/test.parquet: row 1", f"{tmp_path}/test.parquet: row 2"]
    assert w.verifier is None  # scored by rewards.verifier


def test_ids_and_the_changed_flag_drive_the_rl_mix(tmp_path):
    w = world(train_path=write_jsonl(tmp_path / "t.jsonl", ROWS), id_field="key", changed_field="moved", rl_unchanged_per_changed=0.5, **FIELDS)
    examples = w.examples("train")
    assert [(e.id, e.meta["changed"]) for e in examples] == [("a", True), ("b", False)]
    assert w.rl_unchanged_per_changed("mine:score") == 0.5
    with pytest.raises(DatasetError, match="needs world.dataset.changed_field"):
        world(train_path=str(tmp_path / "t.jsonl"), rl_unchanged_per_changed=0.5).rl_unchanged_per_changed("mine:score")


@pytest.mark.parametrize("row, message", [
    ({"next": 1, "target": "x"}, r"t.jsonl:2: no field 'text' \(world.dataset.prompt_field\); the row has \['next', 'target'\]"),
    ({"text": 3, "next": 1, "target": "x"}, r"t.jsonl:2: field 'text' \(world.dataset.prompt_field\) must be str, got int"),
    ({"text": "  ", "next": 1, "target": "x"}, r"t.jsonl:2: field 'text' \(world.dataset.prompt_field\) is empty"),
    ({"text": "p", "target": "x"}, r"t.jsonl:2: no field 'next' \(world.dataset.reference_field\)"),
    ({"text": "p", "next": 1, "target": ["x"]}, r"t.jsonl:2: field 'target' \(world.dataset.answer_field\) must be str, got list"),
])
def test_a_bad_row_names_file_line_and_config_field(tmp_path, row, message):
    w = world(train_path=write_jsonl(tmp_path / "t.jsonl", [ROWS[0], row]), **FIELDS)
    with pytest.raises(DatasetError, match=message):
        w.examples("train")


def test_bad_files_and_missing_splits(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"text": "p"}\n[1, 2]\n')
    (tmp_path / "rows.csv").write_text("text\np\n")
    (tmp_path / "fake.parquet").write_text("not parquet")
    cases = {
        str(tmp_path / "missing.jsonl"): "missing.jsonl: file not found",
        str(tmp_path / "bad.jsonl"): "bad.jsonl:2: a row must be a JSON object, got list",
        str(tmp_path / "rows.csv"): "rows.csv: expected a .jsonl or .parquet file",
        str(tmp_path / "fake.parquet"): "fake.parquet: not a readable Parquet file",
    }
    for path, message in cases.items():
        with pytest.raises(DatasetError, match=message):
            world(train_path=path, **FIELDS).examples("train")
    with pytest.raises(DatasetError, match=r"world.dataset.test_path: the test split is read, but no file is given"):
        world(train_path=str(tmp_path / "bad.jsonl")).examples("test")
    dup = write_jsonl(tmp_path / "dup.jsonl", [ROWS[0], ROWS[0]])
    with pytest.raises(DatasetError, match="ids .* are not unique"):
        world(train_path=dup, id_field="key", **FIELDS).examples("train")
