"""The rollout worker's engine plumbing, in a process of its own (it imports vLLM): a worker whose engine
died exits its process (vLLM would leave it up with a dead engine), so that the pool sees a dead worker and
replaces it, and any other error is the call's own; on CPU the sampled tokens' ranks are counted eagerly
instead of by a kernel that vLLM compiles at each engine's first generate call."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration  # imports vLLM in a process of its own

PROBE = """
import sys
import platform_compat
platform_compat.apply()
import torch
import vllm.v1.sample.ops.logprobs as ops
import vllm.v1.sample.sampler as sampler
from rollout.worker import eager_token_ranks_on_cpu, exit_if_engine_dead
from vllm.v1.engine.exceptions import EngineDeadError

assert hasattr(sampler.batched_count_greater_than, "_torchdynamo_orig_callable")  # vLLM's compiled kernel: the name replaced
eager_token_ranks_on_cpu()
x, sampled = torch.tensor([[0.1, 0.5, 0.3, 0.5], [0.2, 0.2, 0.9, -1.0]]), torch.tensor([[0.5], [0.2]])
for f in (sampler.batched_count_greater_than, ops.batched_count_greater_than):
    print("ranks", f.__module__, f(x, sampled).tolist(), flush=True)
exit_if_engine_dead(ValueError("a bad prompt"))  # not fatal: returns
print("survived a call error", flush=True)
exit_if_engine_dead(EngineDeadError())
print("still here")
"""


@pytest.fixture(scope="module")
def probe():
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_a_dead_engine_ends_the_process_other_errors_do_not(probe):
    assert probe.returncode == 1 and "survived a call error" in probe.stdout and "still here" not in probe.stdout, probe.stderr[-2000:]
    assert "the vLLM engine died" in probe.stderr  # logged


def test_on_cpu_the_sampled_tokens_ranks_are_counted_eagerly_as_vllm_counts_them(probe):
    # vLLM's rank of a sampled token: how many vocabulary entries have a log-prob >= its own (itself included)
    assert probe.stdout.count("ranks rollout.worker [2, 3]") == 2, probe.stdout + probe.stderr[-2000:]
