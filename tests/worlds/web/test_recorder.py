"""Recording real MiniWoB++ pages in the system's chromium (BrowserGym): every CI run records these."""

import json

import pytest

from worlds.web.data import validate_row
from worlds.web.tree import diff_items, parse_tree, render_target, target_changes

pytestmark = pytest.mark.integration

TASKS = ["click-tab", "enter-text", "choose-list"]  # tabs (items appear / vanish), a text field, a native <select>


@pytest.fixture(scope="module")
def recording():
    from worlds.web.recorder import record

    return record(TASKS, episodes=1, steps=3, seed=0, progress=False)


def test_real_pages_give_consistent_documented_rows(recording, tmp_path):
    from worlds.web.recorder import write_jsonl

    rows = recording["rows"]
    assert {r["task"] for r in rows} == set(TASKS) and not recording["failed"]
    assert any(target_changes(r["target"]) for r in rows)
    for r in rows:
        validate_row(dict(r), r["id"])
        # the target is exactly the change between the two printed trees
        assert r["target"] == render_target(diff_items(parse_tree(r["observation"]), parse_tree(r["next_observation"])))
        # the action names an element printed in the observation
        acted = int(r["action"].split("[", 1)[1].split("]", 1)[0])
        assert acted in {i for i, _, _ in parse_tree(r["observation"])}, r
        assert "site-packages" not in json.dumps(r) and r["url"].startswith("file:///miniwob/")  # no local paths leak
        assert r["observation"].startswith("Tab 0 (current): ")
    steps = [(r["episode"], r["step"]) for r in rows]
    assert steps == sorted(steps, key=lambda s: (TASKS.index(s[0].split("/")[0]), s[1]))
    assert [r["previous_action"] for r in rows if r["step"] == 0] == ["None"] * len(TASKS)
    write_jsonl(rows, tmp_path / "r.jsonl")
    from worlds.web.data import load_rows

    assert [r["target"] for r in load_rows(tmp_path / "r.jsonl")] == [r["target"] for r in rows]


def test_a_recording_is_reproducible_from_its_seed_also_with_parallel_browsers(recording, ray_cluster):
    from worlds.web.recorder import record

    again = record(TASKS, episodes=1, steps=3, seed=0, workers=2, progress=False)
    first, second = recording["rows"], again["rows"]
    assert [(r["id"], r["action"]) for r in second] == [(r["id"], r["action"]) for r in first]
    assert [r["observation"] for r in second] == [r["observation"] for r in first]
    # MiniWoB++'s own timing (animations) may change a late effect; most targets repeat exactly
    same = sum(a["target"] == b["target"] for a, b in zip(first, second))
    assert same >= len(first) - 1, (same, len(first))
    other = record(TASKS[:1], episodes=1, steps=3, seed=1, progress=False)["rows"]
    assert [r["observation"] for r in other] != [r["observation"] for r in first if r["task"] == TASKS[0]]


def test_the_cli_records_and_names_unknown_tasks(tmp_path, capsys):
    from worlds.__main__ import main

    assert main(["record-web", "--tasks", "no-such-task", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "unknown MiniWoB++ task type(s) ['no-such-task']" in capsys.readouterr().err
    assert main(["record-web", "--tasks", "click-button", "--episodes", "1", "--steps", "2", "--out", str(tmp_path / "b.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "transitions/s" in out and (tmp_path / "b.jsonl").read_text().count("\n") >= 1
