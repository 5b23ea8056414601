"""The step-throughput benchmark runs every variant at tiny sizes (its numbers come from `make bench`)."""

import importlib.util
import json
import re

import pytest

from tests.conftest import ROOT



def test_step_throughput_runs_every_variant_and_prints_the_ratios(ray_cluster, capsys, tmp_path):
    if importlib.util.find_spec("trl") is None:
        pytest.skip("TRL (the bench extra) is not installed; make install adds it")
    spec = importlib.util.spec_from_file_location("step_throughput", ROOT / "bench" / "step_throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--quick", "--steps", "1", "--out", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    for name in ("TRL vLLM", "TRL HF", "sync (recompute)", "sync", "sync (collective)", "async", "async (1 core each)", "raw vLLM", "raw torch step"):
        assert re.search(rf"^{re.escape(name)} +[0-9.]+", out, re.M), name
    for ratio in ("sync / TRL vLLM colocate", "sync step / sync \\(recompute\\) step", "async step / max\\(generate, train\\)", "async / sync",
                  "async \\(1 core each\\) step / max"):
        assert re.search(rf"{ratio}[^:]*: +[0-9.]+", out), ratio
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["async"]["staleness_max"] == 1 and results["sync"]["staleness_max"] == 0
    assert all(r["time/step"] > 0 for name, r in results.items() if name != "raw")
