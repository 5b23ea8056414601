"""The job's stages in order (services/controller.py run_stages), the stages themselves faked: a rerun of the
same command skips what stages.json records as finished and goes on with RL when more steps are asked for.
(The RL stage's own resume from its checkpoints is tested on the real stack: tests/e2e/test_faults.py.)"""

from types import SimpleNamespace

import services.controller as controller
from services.config import load_config
from tests.conftest import ROOT


def test_a_rerun_skips_finished_stages_and_trains_rl_on_when_asked_for_more_steps(tmp_path, monkeypatch, capsys):
    calls = []

    def stage(name):
        def run_stage(run, model_path, data, pools):
            calls.append((name, model_path, run.cfg.rl.steps))
            out = tmp_path / f"{name}-{len(calls)}"
            out.mkdir()
            (out / "config.json").write_text("{}")
            return str(out)
        return run_stage

    monkeypatch.setattr(controller, "mle_stage", stage("mle"))
    monkeypatch.setattr(controller, "rl_stage", stage("rl"))
    monkeypatch.setattr(controller, "prepare_model", lambda run: "start")
    monkeypatch.setattr(controller, "load_tokenizer", lambda path: None)
    monkeypatch.setattr(controller, "wanted", lambda control: ({}, False))
    control = SimpleNamespace(report=SimpleNamespace(remote=lambda status: None))

    def job(steps: int) -> dict:
        cfg = load_config(ROOT / "configs" / "tiny_text_game.yaml", ["run.stages=[mle,rl]", f"rl.steps={steps}"])
        return controller.run_stages(SimpleNamespace(cfg=cfg, dir=tmp_path, control=control, split=lambda name, tokenizer: []), pools=None)

    first = job(3)
    assert calls == [("mle", "start", 3), ("rl", first["mle"], 3)]
    assert job(3) == first and len(calls) == 2  # both finished: nothing runs again
    assert "stage mle already done" in capsys.readouterr().out
    more = job(5)  # more RL steps: MLE is skipped, RL goes on from the MLE model (and resumes from its checkpoints)
    assert calls[2:] == [("rl", first["mle"], 5)] and more["mle"] == first["mle"] and more["rl"] != first["rl"]
    assert "stage mle already done" in capsys.readouterr().out
