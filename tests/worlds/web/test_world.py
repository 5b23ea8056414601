"""The web world: splits that hold out whole episodes (and task types), prompts, the baseline answer."""

import json

import pytest

from rewards.registry import get_verifier
from worlds.config import WebConfig, WorldConfig
from worlds.registry import get_world
from worlds.web.world import ALL_NONE, split_episodes

OBS = "Tab 0 (current): T\n\n[1] RootWebArea 'T' focused: True\n\t[2] button 'OK'"
CHANGE = "New items:\nNone\n\nDeleted items:\nNone\n\nUpdated items:\n[2] button 'OK' focused: True"


def rows(tasks=("a", "b", "c"), episodes=10, steps=2):
    return [
        {"id": f"{t}/{e}/{s}", "task": t, "episode": f"{t}/{e}", "observation": OBS, "action": "click [2]", "target": CHANGE if s else ALL_NONE,
         "url": f"file:///miniwob/{t}.html", "objective": f"Do {t}", "previous_action": "None", "line": 1}
        for t in tasks for e in range(episodes) for s in range(steps)
    ]


def test_splits_hold_out_whole_episodes_reproducibly():
    cfg = WebConfig(test_fraction=0.2, validation_fraction=0.1)
    splits = split_episodes(rows(), cfg, seed=0)
    episodes = {name: {r["episode"] for r in part} for name, part in splits.items()}
    assert not (episodes["train"] & episodes["test"]) and not (episodes["train"] & episodes["validation"]) and not (episodes["test"] & episodes["validation"])
    assert (len(episodes["test"]), len(episodes["validation"]), len(episodes["train"])) == (6, 3, 21)
    assert sum(len(p) for p in splits.values()) == 60
    assert split_episodes(rows(), cfg, seed=0) == splits and split_episodes(rows(), cfg, seed=1) != splits


def test_held_out_task_types_go_to_test_only():
    splits = split_episodes(rows(), WebConfig(holdout_tasks=["c"]), seed=0)
    assert {r["task"] for r in splits["train"]} == {"a", "b"}
    assert {r["episode"] for r in splits["test"] if r["task"] == "c"} == {f"c/{e}" for e in range(10)}


def test_examples_from_files_with_the_papers_prompt(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "line"}) + "\n" for r in rows(("a",), 2)))
    world = get_world(WorldConfig(name="web", web=WebConfig(test_path=str(path))))
    examples = world.examples("test")
    assert [e.id for e in examples] == ["a/0/0", "a/0/1", "a/1/0", "a/1/1"]
    prompt = examples[1].prompt
    for part in ("URL: file:///miniwob/a.html", "Objective: Do a", "Previous action: None", "Current observation:\nTab 0 (current): T", "Current action: click [2]", "New items:"):
        assert part in prompt
    assert examples[1].answer == CHANGE and examples[1].meta["changed"] and not examples[0].meta["changed"]
    short = get_world(WorldConfig(name="web", web=WebConfig(test_path=str(path), prompt_style="state_only"))).examples("test")[1].prompt
    assert short == f"Observation:\n{OBS}\nAction: click [2]\n"
    # the reference answers score 1; the "nothing changes" baseline scores by its None items
    verifier = get_verifier(world.verifier)
    assert all(verifier.score(e.answer, e.reference).reward == 1.0 for e in examples)
    baseline = world.baselines(examples)["none_baseline"]
    assert [verifier.score(b, e.reference).reward for b, e in zip(baseline, examples)] == [1.0, 2 * (2 / 3) * (2 / 3) / (4 / 3), 1.0, 2 * (2 / 3) * (2 / 3) / (4 / 3)]


def test_the_demo_trains_on_the_recording_that_ships_with_the_project(tmp_path, monkeypatch):
    """configs/tiny_web.yaml needs no browser: its recording ships (xz) under worlds/web/recordings/, the only
    file there (a recorder change bumps RECORDER_VERSION, which renames the recording the demo looks for)."""
    import worlds.web.recorder
    from services.config import load_config
    from tests.conftest import ROOT
    from worlds.web.world import SHIPPED

    monkeypatch.setattr(worlds.web.recorder, "record", lambda *a, **k: pytest.fail("recorded pages: no shipped recording for the demo's settings"))
    web = load_config(ROOT / "configs" / "tiny_web.yaml").world
    world = get_world(web, str(tmp_path / "tiny_web"))
    path = world.record()
    assert path.parent == SHIPPED and [p.name for p in SHIPPED.iterdir()] == [path.name] and path.name.endswith(".jsonl.xz")
    splits = {name: world.rows(name) for name in ("train", "validation", "test")}
    everything = [r for part in splits.values() for r in part]
    episodes = {r["episode"] for r in everything}
    assert {r["task"] for r in everything} == set(web.web.record_tasks)
    assert len(episodes) >= 0.95 * len(web.web.record_tasks) * web.web.record_episodes  # a page that crashed its browser is left out
    assert len({r["id"] for r in everything}) == len(everything) and all(r["step"] < web.web.record_steps for r in everything)
    assert len({r["episode"] for r in splits["test"]}) == round(web.web.test_fraction * len(episodes))
    assert not (tmp_path / "web_recordings").exists()  # nothing recorded, nothing cached


def test_other_settings_are_recorded_once_and_cached_beside_the_run(tmp_path, monkeypatch, capsys):
    """Settings the project ships no recording for: the recorder runs on the first call (stubbed here: the real one is
    tests/worlds/web/test_recorder.py's), its rows are cached by a name of the settings, and later runs reuse them."""
    import worlds.web.recorder

    calls = []

    def fake_record(tasks, episodes, steps, seed, workers):
        calls.append((tuple(tasks), episodes, steps, seed, workers))
        got = [r for r in rows(tasks=tuple(tasks), episodes=episodes) if int(r["id"].rsplit("/", 1)[1]) < steps]
        return {"rows": got, "refused": 0, "failed": [], "seconds": 1.0, "transitions_per_s": float(len(got))}

    monkeypatch.setattr(worlds.web.recorder, "record", fake_record)
    web = WebConfig(record_tasks=["a", "b"], record_episodes=10, record_steps=2, record_workers=3)
    world = get_world(WorldConfig(name="web", web=web), str(tmp_path / "run"))
    assert len(world.rows("train")) + len(world.rows("test")) + len(world.rows("validation")) == 40
    assert calls == [(("a", "b"), 10, 2, 0, 3)] and "recorded 40 transitions" in capsys.readouterr().out
    cached = list((tmp_path / "web_recordings").glob("miniwob-*.jsonl"))
    assert len(cached) == 1 and world.record() == cached[0]
    again = get_world(WorldConfig(name="web", web=web), str(tmp_path / "run2"))  # another run beside it
    assert again.rows("test") == world.rows("test") and len(calls) == 1
    get_world(WorldConfig(name="web", web=web.model_copy(update={"record_steps": 1})), str(tmp_path / "run3")).rows("test")
    assert len(calls) == 2 and len(list((tmp_path / "web_recordings").glob("miniwob-*.jsonl"))) == 2  # other settings, another file
    monkeypatch.setattr(worlds.web.recorder, "record", lambda *a, **k: {"rows": [], "failed": ["a/0: crashed"]})
    with pytest.raises(RuntimeError, match=r"recorded no transitions \(failed episodes: \['a/0: crashed'\]\)"):
        get_world(WorldConfig(name="web", web=web.model_copy(update={"record_episodes": 1})), str(tmp_path / "run4")).rows("test")
