"""The paper's "full" prompt and the reference answer of a row."""

import json

from tests.conftest import BYTESIZED32_RULES, BYTESIZED32_TEST, require
from worlds.config import TextGameConfig, WorldConfig
from worlds.registry import get_world
from worlds.text_game.prompt import ANSWER_MARKER, render_answer, render_prompt


def test_full_prompt_on_real_rows():
    require(BYTESIZED32_TEST)
    world = get_world(WorldConfig(text_game=TextGameConfig(test_path=str(BYTESIZED32_TEST), rules_dir=str(require(BYTESIZED32_RULES)))))
    rows = world.rows("test")
    row = rows[0]
    prompt = render_prompt(row, world.rules(row["game"]), "full")
    assert row["current_state"]["taskDesc"] in prompt
    assert world.rules(row["game"])["action"].strip()[:200] in prompt
    assert world.rules(row["game"])["score"].strip() in prompt
    assert f"Action: {row['action_state']['lastAction']}" in prompt
    assert f"UUID base: {row['current_state']['max_UUID']}" in prompt
    assert json.dumps(row["current_state"]["objects"], separators=(",", ":")) in prompt
    assert ANSWER_MARKER in prompt
    examples = world.examples("test")
    assert len(examples) == 2954 and examples[0].id == f"{row['game']}_{row['state_id']}"
    assert sum(not ex.meta["changed"] for ex in examples) == 1744


def test_state_only_prompt_is_short_and_answer_has_marker(bytesized32_rows):
    row = bytesized32_rows[0]
    short = render_prompt(row, None, "state_only")
    assert "Object rules" not in short and "Action:" in short
    answer = render_answer(row)
    assert answer.startswith(ANSWER_MARKER)
    assert set(json.loads(answer[len(ANSWER_MARKER):])) == {"modified", "removed", "score"}
