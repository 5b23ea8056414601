"""Recording real MiniWoB++ pages in the system's chromium (BrowserGym): every CI run records these."""

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, WEB_TASKS
from worlds.web.data import validate_row
from worlds.web.tree import diff_items, parse_tree, render_target, target_changes

pytestmark = pytest.mark.integration


def test_real_pages_give_consistent_documented_rows(web_recording, tmp_path):
    from worlds.web.recorder import write_jsonl

    recording, _ = web_recording
    rows = recording["rows"]
    assert {r["task"] for r in rows} == set(WEB_TASKS) and len({r["episode"] for r in rows}) == 3 * len(WEB_TASKS) and not recording["failed"]
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
    order = [(WEB_TASKS.index(r["task"]), int(r["episode"].rsplit("/", 1)[1]), r["step"]) for r in rows]
    assert order == sorted(order)  # (task, episode, step) order, whichever browser finished first
    assert [r["previous_action"] for r in rows if r["step"] == 0] == ["None"] * 3 * len(WEB_TASKS)
    write_jsonl(rows, tmp_path / "r.jsonl")
    from worlds.web.data import load_rows

    assert [r["target"] for r in load_rows(tmp_path / "r.jsonl")] == [r["target"] for r in rows]


def shipped_demo_recording() -> Path:
    """The recording that ships for configs/tiny_web.yaml (recorded with 4 browsers as Ray tasks, 30 episodes of 4 steps)."""
    from services.config import load_config
    from worlds.web.world import SHIPPED, WebWorld

    return SHIPPED / f"{WebWorld(load_config(ROOT / 'configs' / 'tiny_web.yaml').world).recording_path().name}.xz"


def test_a_recording_is_reproducible_from_its_seed_whatever_the_browsers_the_shipped_one_too(web_recording):
    """This recording of 3 steps in 2 browsers is, transition by transition, the start of the shipped recording's
    first 3 episodes of each of its task types (4 steps, 4 browsers): what the project ships is what this recorder makes."""
    from worlds.web.data import load_rows

    recording, _ = web_recording
    fields = ("task", "episode", "step", "url", "objective", "previous_action", "observation", "action", "target", "next_observation")
    mine = {r["id"]: [r[f] for f in fields] for r in recording["rows"]}
    shipped = {r["id"]: [r[f] for f in fields] for r in load_rows(shipped_demo_recording()) if r["id"] in mine}
    assert shipped.keys() == mine.keys()
    assert {i: row[:-2] for i, row in shipped.items()} == {i: row[:-2] for i, row in mine.items()}  # all but the change
    # MiniWoB++'s own timing (animations) may change a late effect; most targets repeat exactly
    same = sum(shipped[i][-2:] == mine[i][-2:] for i in mine)
    assert same >= 0.9 * len(mine), (same, len(mine))
    from worlds.web.recorder import record

    other = record(WEB_TASKS[:1], episodes=1, steps=3, seed=1, progress=False)["rows"]
    assert [r["observation"] for r in other] != [r["observation"] for r in recording["rows"] if r["episode"] == f"{WEB_TASKS[0]}/0"]


def test_the_cli_records_and_names_unknown_tasks(tmp_path, capsys):
    from worlds.__main__ import main

    assert main(["record-web", "--tasks", "no-such-task", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "unknown MiniWoB++ task type(s) ['no-such-task']" in capsys.readouterr().err
    assert main(["record-web", "--tasks", "click-button", "--episodes", "1", "--steps", "2", "--out", str(tmp_path / "b.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "transitions/s" in out and (tmp_path / "b.jsonl").read_text().count("\n") >= 1
