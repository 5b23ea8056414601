"""The benchmarks' reports on canned results: every ratio they print is the arithmetic it names, and a
partial run (some variants left out) prints what it has. Unit tier: no engines (the smoke runs beside
this module start them)."""

import importlib.util
import re

import pytest

from services.config import JobConfig
from tests.conftest import ROOT

pytestmark = pytest.mark.unit


def bench_module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(step_s: float, **phases) -> dict:
    return {"time/step": step_s, "completions": 32, "tokens": 3200, **phases}


CANNED = {
    "TRL vLLM": run(4.0),
    "TRL HF": run(8.0),
    "sync (recompute)": run(2.5, **{"time/train": 1.0}),
    "sync": run(2.0, **{"time/generate": 1.2, "time/train": 0.6, "time/sync": 0.1, "staleness_max": 0}),
    "sync (collective)": run(1.9, **{"time/sync": 0.05}),
    "async": run(1.3, **{"time/generate": 1.2, "time/train": 0.6, "staleness_max": 1}),
    "raw": {"generate": 1.0, "completions": 32, "tokens": 3000, "old_logprobs": 0.2, "ref_logprobs": 0.2, "updates": 0.4, "step_32_per_pass": 1.0},
}


def ratio(out: str, label: str) -> str:
    match = re.search(rf"^  {re.escape(label)}:? +([0-9.]+x?)", out, re.M)
    assert match, f"no line {label!r} in:\n{out}"
    return match.group(1)


def test_step_report_prints_each_ratio_it_names(capsys):
    bench_module("step_throughput").report(CANNED, JobConfig())
    out = capsys.readouterr().out
    assert re.search(r"^sync +2\.00 +16\.0 +1600  generate=1\.20  train=0\.60  sync=0\.10$", out, re.M), out
    assert re.search(r"^raw vLLM +1\.00 +32\.0 +3000  generation alone$", out, re.M), out
    assert ratio(out, "sync / TRL vLLM colocate, completions/s") == "2.00x"  # 16 / 8 completions/s
    assert ratio(out, "sync / TRL HF generate, completions/s") == "4.00x"
    assert ratio(out, "sync step / sync (recompute) step") == "0.80"
    assert ratio(out, "raw torch step, token budget / 32 per pass") == "0.80"  # (0.2 + 0.2 + 0.4) / 1.0
    assert ratio(out, "sync step, collective / object store") == "0.95"
    assert ratio(out, "async step / max(generate, train)") == "1.08"
    assert ratio(out, "async / sync, completions/s") == "1.54x"  # (32 / 1.3) / 16
    assert ratio(out, "sync step / (raw vLLM + raw torch step)") == "1.25"  # 2.0 / (1.0 + 0.2 + 0.4): the rollout's old log-probs
    assert ratio(out, "sync generate / raw vLLM") == "1.20"
    assert ratio(out, "sync train / raw torch (ref + updates)") == "1.00"


def test_step_report_of_a_partial_run_prints_what_it_has(capsys):
    bench_module("step_throughput").report({"async": CANNED["async"], "raw": CANNED["raw"]}, JobConfig())  # --skip-trl --variants async
    out = capsys.readouterr().out
    assert ratio(out, "async step / max(generate, train)") == "1.08"
    assert "TRL" not in out and "sync" not in out.replace("async", "")


def test_reward_report_ratios():
    rates = {(1, "one sample per call"): 40.0, (1, "batched"): 100.0, (2, "batched"): 180.0}
    assert bench_module("reward_throughput").ratios(rates) == "ratio 2 workers / 1 worker: 1.80; ratio batched / one sample per call: 2.50"
