"""A rollout worker whose vLLM engine died exits its process (vLLM would leave it up with a dead engine),
so that the pool sees a dead worker and replaces it; any other error is the call's own."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration  # imports vLLM in a process of its own

PROBE = """
import sys
import platform_compat
platform_compat.apply()
from rollout.worker import exit_if_engine_dead
from vllm.v1.engine.exceptions import EngineDeadError
exit_if_engine_dead(ValueError("a bad prompt"))  # not fatal: returns
print("survived a call error", flush=True)
exit_if_engine_dead(EngineDeadError())
print("still here")
"""


def test_a_dead_engine_ends_the_process_other_errors_do_not():
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "survived a call error" in proc.stdout and "still here" not in proc.stdout, proc.stderr[-2000:]
    assert "the vLLM engine died" in proc.stderr  # logged
