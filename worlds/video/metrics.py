"""Frame-prediction metrics (PAPER.md domain 3): MSE, PSNR, SSIM (torchmetrics), LPIPS and the reward
-(L1 + LPIPS). (The multi-step repetition rate is a per-rollout token check in rewards/video.py.)

Frames are float tensors [N, 3, H, W] in [0, 1]; LPIPS takes them mapped to [-1, 1].
"""

from __future__ import annotations

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure


def frame_metrics(pred: torch.Tensor, target: torch.Tensor, lpips_model=None) -> dict[str, torch.Tensor]:
    """Per-frame MSE, PSNR (dB), SSIM, L1 and, with an LPIPS model, LPIPS and the reward -(L1 + LPIPS)."""
    if pred.shape != target.shape or pred.dim() != 4:
        raise ValueError(f"pred and target must both be [N, 3, H, W], got {list(pred.shape)} and {list(target.shape)}")
    pred, target = pred.float().clamp(0, 1), target.float()
    out = {
        "mse": ((pred - target) ** 2).mean(dim=(1, 2, 3)),
        "l1": (pred - target).abs().mean(dim=(1, 2, 3)),
        "psnr": peak_signal_noise_ratio(pred, target, data_range=1.0, reduction="none", dim=(1, 2, 3)),
        "ssim": structural_similarity_index_measure(pred, target, data_range=1.0, reduction="none"),
    }
    if lpips_model is not None:
        with torch.no_grad():
            out["lpips"] = lpips_model(pred * 2 - 1, target * 2 - 1).flatten()
        out["reward"] = -(out["l1"] + out["lpips"])
    return out

