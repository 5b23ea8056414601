"""The torchvision repair: transformers models, lpips and torchvision import in any process of the env."""

import os
import subprocess
import sys

from tests.conftest import ROOT

IMPORTS = "import torchvision.models; from transformers import LlamaForCausalLM, Qwen2ForCausalLM; import lpips"


def run(code, **env):
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env={**os.environ, **env})


def test_plain_subprocess_imports_work():
    # a fresh interpreter that never calls apply(): the start-up hook (when the breakage exists) covers it,
    # as it must for vLLM's model-inspection subprocess and Ray workers
    proc = run(IMPORTS)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_apply_is_idempotent_and_reports_whether_it_repaired():
    proc = run("import platform_compat; a = platform_compat.apply(); b = platform_compat.apply(); assert a == b; " + IMPORTS + "; print(a)")
    assert proc.returncode == 0, proc.stderr[-2000:]
    repaired = proc.stdout.strip() == "True"
    # the repair acts only when the extension is really broken: with it turned off, the import fails iff it was needed
    off = run("import torchvision", RLVR_NO_TORCHVISION_REPAIR="1")
    assert (off.returncode != 0) == repaired
    if repaired:
        assert "torchvision::nms" in off.stderr
