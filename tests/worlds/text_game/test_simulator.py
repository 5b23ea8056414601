"""The built-in text-game simulator: row format, determinism, dynamics coverage and split hygiene."""

import json
import time
from collections import Counter

import pytest

from worlds.text_game import simulator

ROW_KEYS = {"game", "state_id", "current_state", "action_state", "tick_state", "current_score_state", "next_score_state"}
STATE_KEYS = {"observation": str, "look": str, "inventory": str, "taskDesc": str, "lastAction": str, "objects": list, "max_UUID": int}
OBJECT_KEYS = {"name": str, "uuid": int, "type": str, "properties": dict, "contains": list}
SCORE_KEYS = {"score": int, "gameOver": bool, "gameWon": bool}
STATES = ("current_state", "action_state", "tick_state")


@pytest.fixture(scope="module")
def train():
    return simulator.generate("train", 400, seed=0)


def same_objects(a: list, b: list) -> bool:
    """Equal by uuid: properties exactly, contains as a multiset."""
    def canon(objs):
        return {o["uuid"]: (json.dumps(o["properties"], sort_keys=True), Counter(o["contains"])) for o in objs}

    return canon(a) == canon(b)


def unchanged(row: dict) -> bool:
    return same_objects(row["current_state"]["objects"], row["tick_state"]["objects"]) and row["current_score_state"] == row["next_score_state"]


def uuids(state: dict) -> set:
    return {o["uuid"] for o in state["objects"]}


def test_generate_is_deterministic_and_depends_on_seed():
    assert simulator.generate("train", 60, seed=3) == simulator.generate("train", 60, seed=3)
    assert simulator.generate("train", 60, seed=3) != simulator.generate("train", 60, seed=4)
    assert simulator.generate("test", 20, seed=0) == simulator.generate("test", 20, seed=0)


def test_rows_are_balanced_over_all_games_with_state_ids(train):
    games = Counter(row["game"] for row in train)
    assert set(games) == set(simulator.GAMES) and len(simulator.GAMES) >= 4
    assert max(games.values()) - min(games.values()) <= 1
    for game in games:
        assert [row["state_id"] for row in train if row["game"] == game] == list(range(games[game]))
    assert [row["game"] for row in simulator.generate("train", 5, games=["box-key"])] == ["box-key"] * 5


def test_row_schema_and_json_round_trip(train):
    assert json.loads(json.dumps(train)) == train
    for row in train:
        assert set(row) == ROW_KEYS and isinstance(row["state_id"], int)
        for key in ("current_score_state", "next_score_state"):
            assert {k: type(v) for k, v in row[key].items()} == SCORE_KEYS
        for key in STATES:
            state = row[key]
            assert {k: type(v) for k, v in state.items()} == STATE_KEYS
            for obj in state["objects"]:
                assert {k: type(v) for k, v in obj.items()} == OBJECT_KEYS
        assert row["action_state"]["lastAction"] == row["tick_state"]["lastAction"] != ""
        assert row["game"] in simulator.GAMES and row["current_state"]["taskDesc"] == simulator.GAMES[row["game"]].task


def test_states_are_consistent(train):
    for row in train:
        for key in STATES:
            state = row[key]
            objects = state["objects"]
            names = {o["name"] for o in objects}
            assert len(uuids(state)) == len(objects), (row["game"], row["state_id"], key)
            assert all(o["name"].endswith(f"(ID: {o['uuid']})") for o in objects)
            assert {0, 1} <= uuids(state) and max(uuids(state)) < state["max_UUID"]
            # every contained name is a present object, and everything but the room is in exactly one container
            assert Counter(name for o in objects for name in o["contains"]) == Counter(names - {"room (ID: 1)"})


def test_invalid_actions_change_nothing(train):
    invalid = [row for row in train if row["action_state"]["observation"].startswith(("You can't", "You don't"))]
    assert invalid
    assert all(same_objects(row["current_state"]["objects"], row["action_state"]["objects"]) for row in invalid)


def test_unchanged_share_is_realistic(train):
    share = sum(map(unchanged, train)) / len(train)
    assert 0.2 <= share <= 0.6, share


def test_rows_cover_additions_removals_scores_and_tick_only_changes(train):
    assert any(uuids(row["tick_state"]) - uuids(row["current_state"]) for row in train), "no object added"
    assert any(uuids(row["current_state"]) - uuids(row["tick_state"]) for row in train), "no object removed"
    assert any(row["current_score_state"] != row["next_score_state"] for row in train), "no score change"
    assert any(row["next_score_state"]["gameWon"] for row in train), "no game won"
    assert any(
        same_objects(row["current_state"]["objects"], row["action_state"]["objects"])
        and not same_objects(row["current_state"]["objects"], row["tick_state"]["objects"])
        for row in train
    ), "no tick-only change"


def test_added_object_takes_max_uuid(train):
    for row in train:
        new = uuids(row["tick_state"]) - uuids(row["current_state"])
        if new:
            assert new == {row["current_state"]["max_UUID"]} and row["tick_state"]["max_UUID"] == row["current_state"]["max_UUID"] + 1


def test_held_out_splits_never_repeat_a_train_transition(train):
    def key(row):
        return row["game"], json.dumps(row["current_state"]["objects"], sort_keys=True), row["tick_state"]["lastAction"]

    seen = {key(row) for row in simulator.generate("train", 2000, seed=0)}
    for split in ("validation", "test"):
        held_out = simulator.generate(split, 200, seed=0)
        assert len(held_out) == 200 and not seen & {key(row) for row in held_out}


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"split": "dev", "num_rows": 5}, "split"),
        ({"split": "train", "num_rows": 0}, "num_rows"),
        ({"split": "train", "num_rows": 5, "games": ["chess"]}, "game"),
        ({"split": "train", "num_rows": 5, "games": []}, "game"),
    ],
)
def test_bad_arguments_raise(kwargs, word):
    with pytest.raises(ValueError, match=word):
        simulator.generate(**kwargs)


def test_rules_exist_for_every_game():
    for name, game in simulator.GAMES.items():
        assert game.name == name and game.task
        assert set(simulator.rules(name)) == {"object", "action", "score"} and all(simulator.rules(name).values())
    with pytest.raises(ValueError, match="game"):
        simulator.rules("chess")


def test_generating_2000_rows_is_fast():
    start = time.perf_counter()
    simulator.generate("train", 2000, seed=11)
    assert time.perf_counter() - start < 10
