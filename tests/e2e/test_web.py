"""The web world on the real stack: pages recorded in chromium (the tests' shared recording), a tiny model,
MLE -> RL -> eval beside the "nothing changes" baseline, then `rlvr eval` on the finished run."""

import json

from services.config import load_config
from services.controller import run_job
from tests.conftest import ROOT


def test_web_job_trains_on_recorded_pages_and_evaluates_beside_the_none_baseline(ray_cluster, web_recording, tmp_path):
    _, recording = web_recording  # 3 task types x 3 episodes of up to 3 actions, recorded by 2 browsers
    overrides = [
        f"run.output_dir={tmp_path}", "run.name=web", f"world.web.recording_path={recording}", "world.web.test_fraction=0.34",
        "world.web.validation_fraction=0.0", "mle.epochs=2", "rl.steps=2", "rl.prompts_per_step=4", "rollout.group_size=4",
        "rl.mini_batch_prompts=2", "run.tiny.num_layers=2", "run.tiny.vocab_size=512", "rollout.sampling.max_new_tokens=64",
    ]
    out = run_job(load_config(ROOT / "configs" / "tiny_web.yaml", overrides))
    run_dir = tmp_path / "web"
    rl = [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if r["stage"] == "rl"]
    assert [r["step"] for r in rl] == [1, 2]
    assert all(0.0 <= r["reward_mean"] <= 1.0 and {"f1", "precision", "recall", "f1_changed"} <= set(r) for r in rl)
    assert set(out["eval"]) == {"mle", "rl", "none_baseline"}
    test_rows = len(json.loads((run_dir / "eval_mle.json").read_text())["samples"])
    for name, summary in out["eval"].items():
        assert summary["num_samples"] == test_rows > 0 and {"f1", "precision", "recall", "f1_changed", "exact_match"} <= set(summary), name
    baseline = out["eval"]["none_baseline"]
    assert baseline["parse_failure_rate"] == 0.0 and 0.0 < baseline["f1"] < 1.0 and baseline["f1_changed"] < 1.0
    assert baseline["num_changed"] == test_rows or baseline["f1_unchanged"] == 1.0  # "nothing changes" is right where nothing does
    samples = (run_dir / "web_samples.txt").read_text()
    assert "--- truth ---" in samples and "--- mle ---" in samples and "--- rl ---" in samples and "Observation:\nTab 0 (current)" in samples
    # `rlvr eval` on the same run: the eval stage alone scores the models the run's finished stages produced
    # (greedy: the same results)
    from services.train import eval_main

    assert eval_main(["--config", str(ROOT / "configs" / "tiny_web.yaml"), *overrides]) == 0
    again = {name: json.loads((run_dir / f"eval_{name}.json").read_text())["summary"] for name in ("mle", "rl")}
    assert {name: again[name]["f1"] for name in again} == {name: out["eval"][name]["f1"] for name in again}
