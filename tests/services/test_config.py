"""Job config: YAML + dotted overrides, validation errors that name the field and source, --help."""

import subprocess
import time
from typing import get_args

import pytest

from learner import algorithms
from learner.config import AdvantageEstimator, KLEstimator, LossAggregation
from services.config import ConfigError, JobConfig, describe, load_config
from tests.conftest import RLVR, ROOT

TINY = ROOT / "configs" / "tiny_text_game.yaml"


def test_shipped_configs_validate():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        assert isinstance(load_config(path, paths=False), JobConfig), path  # the paper's model folders are on a cluster's nodes


def test_overrides_apply_with_yaml_types():
    cfg = load_config(TINY, ["rl.lr=1e-5", "rollout.count=3", "run.stages=[mle,eval]", "learner.algorithm.dual_clip=3.0"])
    assert cfg.rl.lr == 1e-5 and cfg.rollout.count == 3
    assert cfg.run.stages == ["mle", "eval"] and cfg.learner.algorithm.dual_clip == 3.0


@pytest.mark.parametrize(
    "override, words",
    [
        ("rl.lrr=1", ["unknown field 'rl.lrr'", "did you mean 'rl.lr'"]),
        ("learner.zero_stage=5", ["learner.zero_stage"]),
        ("rollout.count=abc", ["rollout.count", "integer"]),
        ("rollout.count=0", ["rollout.count", "greater than or equal to 1"]),
        ("learner.algorithm.advantage_estimator=ppo", ["learner.algorithm.advantage_estimator"]),
        ("nonsense", ["must look like key=value"]),
        ("run.rl_steps=3", ["'run.rl_steps' was renamed to 'rl.steps'"]),
        ("rollout.num_workers=2", ["'rollout.num_workers' was renamed to 'rollout.count'"]),
        ("learner.lr=1e-5", ["'learner.lr' was renamed to 'rl.lr'"]),
    ],
)
def test_bad_overrides_name_the_field(override, words):
    with pytest.raises(ConfigError) as err:
        load_config(TINY, [override])
    for word in words:
        assert word in str(err.value)


def test_bad_file_names_the_file_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run:\n  rl_steps: -3\nlearner:\n  algorithm:\n    eps_hihg: 0.3\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    msg = str(err.value)
    assert str(bad) in msg and "rl.steps" in msg and "learner.algorithm.eps_hihg" in msg
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("run: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)


def test_config_names_match_the_registries():
    assert set(get_args(AdvantageEstimator)) == set(algorithms.ADVANTAGE_ESTIMATORS)
    assert set(get_args(KLEstimator)) == set(algorithms.KL_ESTIMATORS)
    assert set(get_args(LossAggregation)) == set(algorithms.LOSS_AGGREGATIONS)


def _leaf_fields(model, prefix=""):
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and hasattr(sub, "model_fields"):
            yield from _leaf_fields(sub, prefix + name + ".")
        else:
            assert field.description, f"{prefix}{name} has no description"
            yield prefix + name


def test_help_lists_every_field_with_description_and_default():
    out = subprocess.run([RLVR, "train", "--help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for key in _leaf_fields(JobConfig):
        assert f"  {key} (" in out, key
    assert "default 'grpo'" in out and len(describe()) > 40


def test_config_error_fails_fast_with_the_field_named():
    start = time.perf_counter()
    proc = subprocess.run(
        [RLVR, "train", "--config", str(TINY), "learner.algorithm.kl_coef=-1"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert time.perf_counter() - start < 5.0
    assert proc.returncode == 2 and "learner.algorithm.kl_coef" in proc.stderr


@pytest.mark.parametrize(
    "overrides, says",
    [
        (["rewards.verifier=nope"], "rewards.verifier: no verifier 'nope' (known: text_game, text_game_binary, video, web; or give 'module:function')"),
        (["rewards.verifier=tests.nowhere:score"], "rewards.verifier: verifier 'tests.nowhere:score' cannot be loaded"),
        (["world.name=nope"], "field 'world.name': Value error, unknown world 'nope'"),
        (["world.name=dataset"], "rewards.verifier: world 'dataset' has no verifier of its own"),
        (["run.model=/no/such/model"], "run.model: no Hugging Face model folder (with config.json) at '/no/such/model'"),
        (["learner.count=4", "rl.mini_batch_prompts=1", "rollout.group_size=2"],
         "rl.mini_batch_prompts: a step's 16 prompts x 2 samples (rollout.group_size) in mini-batches of 1 prompts leave a mini-batch of 2 samples for learner.count = 4 ranks"),
        (["mle.batch_size=1", "learner.count=2"], "mle.batch_size: 1 samples per update cannot feed learner.count = 2"),
    ],
)
def test_check_names_what_the_types_cannot_say_before_anything_starts(overrides, says):
    """A verifier, world or model that does not resolve, and fields that must agree: `rlvr train --check`
    names the field in seconds (the issue's bound: 5 s), not a traceback after a stage."""
    start = time.perf_counter()
    proc = subprocess.run([RLVR, "train", "--config", str(TINY), "--check", *overrides], cwd=ROOT, capture_output=True, text=True)
    assert time.perf_counter() - start < 5.0
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_paths_on_other_machines_are_left_to_them():
    cfg = load_config(TINY, ["run.model=/models/on/the/cluster"], paths=False)
    assert cfg.run.model == "/models/on/the/cluster"
    with pytest.raises(ConfigError, match="run.model"):
        load_config(TINY, ["run.model=/models/on/the/cluster"])


def test_check_prints_the_resolved_config():
    proc = subprocess.run(
        [RLVR, "train", "--config", str(TINY), "--check", "rollout.group_size=4"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    assert "group_size: 4" in proc.stdout


def test_an_unwritable_run_directory_fails_before_anything_starts(tmp_path, capsys):
    from services.train import main

    (tmp_path / "a_file").write_text("")
    assert main([f"run.output_dir={tmp_path / 'a_file'}"]) == 1
    assert f"error: run.output_dir: cannot write the run directory {tmp_path / 'a_file' / 'tiny_text_game'} (Not a directory)" in capsys.readouterr().err
