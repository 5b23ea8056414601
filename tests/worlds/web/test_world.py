"""The web world: splits that hold out whole episodes (and task types), prompts, the baseline answer."""

import json

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
