"""The layering of DESIGN.md holds, imports inside functions included: import-linter's contracts in
pyproject.toml ([tool.importlinter]) are all kept, and a contract does catch a lazy import that breaks it."""

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

LINT = Path(sys.executable).with_name("lint-imports")


def lint(cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def test_every_layering_contract_is_kept():
    out = lint(ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "2 kept, 0 broken" in out.stdout


def test_a_lazy_import_against_the_layers_is_caught(tmp_path):
    for item in ("pyproject.toml", "core", "services", "rollout", "learner", "rewards", "worlds"):
        (shutil.copytree if (ROOT / item).is_dir() else shutil.copy)(ROOT / item, tmp_path / item)
    with open(tmp_path / "rollout" / "config.py", "a") as f:  # a role reaching up into the service, inside a function
        f.write("\n\ndef _late():\n    from services.run import Run  # noqa: F401\n")
    out = lint(tmp_path, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode != 0 and "rollout.config -> services.run" in out.stdout, out.stdout[-3000:]
