"""Rerunning into a run directory: resuming it under other settings is called out by field name."""

import pytest

from services.config import load_config, to_yaml
from services.run import warn_if_resuming_another_config
from tests.conftest import ROOT

CONFIG = ROOT / "configs" / "tiny_text_game.yaml"


def test_resuming_a_run_started_with_other_settings_names_them(tmp_path, caplog):
    (tmp_path / "config.yaml").write_text(to_yaml(load_config(CONFIG, [])))
    (tmp_path / "stages.json").write_text('{"mle": {"output": "x"}}')

    warn_if_resuming_another_config(tmp_path, load_config(CONFIG, ["rl.steps=90"]))  # training on: fine
    assert caplog.text == ""

    warn_if_resuming_another_config(tmp_path, load_config(CONFIG, ["rl.lr=1e-5", "rollout.sampling.temperature=0.55"]))
    assert "other values of rl.lr, rollout.sampling.temperature;" in caplog.text and "another run.name" in caplog.text


def test_a_directory_without_finished_work_is_not_a_resume(tmp_path, caplog):
    (tmp_path / "config.yaml").write_text(to_yaml(load_config(CONFIG, [])))
    warn_if_resuming_another_config(tmp_path, load_config(CONFIG, ["rl.lr=1e-5"]))
    assert caplog.text == ""


def test_a_world_without_a_verifier_needs_rewards_verifier(tmp_path):
    from services.config import load_config
    from services.run import Run
    from worlds.registry import WorldError

    cfg = load_config(None, [f"run.output_dir={tmp_path}", "world.name=dataset", f"world.dataset.train_path={tmp_path / 't.jsonl'}", "rewards.verifier=text_game"])
    cfg = cfg.model_copy(update={"rewards": cfg.rewards.model_copy(update={"verifier": None})})  # as a config built in code may be
    with pytest.raises(WorldError, match="rewards.verifier: world 'dataset' has no verifier of its own"):
        Run(cfg)
    assert Run(cfg.model_copy(update={"rewards": cfg.rewards.model_copy(update={"verifier": "mine:score"})})).verifier == "mine:score"
