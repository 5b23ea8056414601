"""Frame tokenizer: a small convolutional autoencoder with an FSQ bottleneck (vector-quantize-pytorch).

A 64x64 RGB frame becomes an 8x8 grid of integer tokens in [0, prod(levels)) (levels 7,5,5,5,5 as
in the paper: 4,375 codes); `decode` maps tokens back to a frame. Trained locally on CPU with an
L1 + MSE reconstruction loss; saved as a folder (`config.json` + `tokenizer.pt`) next to a run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn


class FrameTokenizerConfig(BaseModel):
    """Shape of the frame tokenizer."""

    model_config = ConfigDict(extra="forbid")

    levels: list[int] = Field(default_factory=lambda: [7, 5, 5, 5, 5], min_length=1, description="FSQ levels per latent channel (codebook = their product)")
    image_size: int = Field(64, ge=16, description="Frame height and width in pixels (square frames)")
    downsample: int = Field(3, ge=1, le=5, description="Stride-2 stages: tokens per side = image_size / 2**downsample")
    channels: int = Field(64, ge=8, description="Width of the convolutional encoder / decoder")


def _stage(c_in: int, c_out: int, up: bool) -> nn.Sequential:
    conv = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1) if up else nn.Conv2d(c_in, c_out, 4, 2, 1)
    return nn.Sequential(conv, nn.GroupNorm(8, c_out), nn.SiLU(), nn.Conv2d(c_out, c_out, 3, 1, 1), nn.SiLU())


class FrameTokenizer(nn.Module):
    def __init__(self, config: FrameTokenizerConfig | None = None):
        super().__init__()
        from vector_quantize_pytorch import FSQ

        self.config = cfg = config or FrameTokenizerConfig()
        c, latent = cfg.channels, len(cfg.levels)
        self.encoder = nn.Sequential(nn.Conv2d(3, c, 3, 1, 1), *[_stage(c, c, up=False) for _ in range(cfg.downsample)], nn.Conv2d(c, latent, 1))
        self.fsq = FSQ(levels=list(cfg.levels), dim=latent)
        self.decoder = nn.Sequential(nn.Conv2d(latent, c, 3, 1, 1), *[_stage(c, c, up=True) for _ in range(cfg.downsample)], nn.Conv2d(c, 3, 3, 1, 1))

    @property
    def codebook_size(self) -> int:
        return math.prod(self.config.levels)

    @property
    def tokens_per_frame(self) -> int:
        return (self.config.image_size // 2**self.config.downsample) ** 2

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images [N, 3, H, W] in [0, 1] -> (reconstruction in [0, 1], token grid [N, h, w])."""
        quantized, indices = self.fsq(self.encoder(images * 2 - 1))
        return torch.sigmoid(self.decoder(quantized)), indices

    @torch.no_grad()
    def encode(self, frames: np.ndarray) -> np.ndarray:
        """uint8 frames [N, H, W, 3] -> int64 tokens [N, tokens_per_frame]."""
        images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255
        _, indices = self.forward(images)
        return indices.flatten(1).long().numpy()

    @torch.no_grad()
    def decode(self, tokens: np.ndarray | torch.Tensor) -> torch.Tensor:
        """tokens [N, tokens_per_frame] -> frames [N, 3, H, W] in [0, 1]. Raises ValueError on invalid tokens."""
        tokens = torch.as_tensor(tokens, dtype=torch.long)
        side = int(math.isqrt(self.tokens_per_frame))
        if tokens.dim() != 2 or tokens.shape[1] != self.tokens_per_frame:
            raise ValueError(f"expected [N, {self.tokens_per_frame}] tokens, got {list(tokens.shape)}")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.codebook_size):
            raise ValueError(f"token ids must lie in [0, {self.codebook_size})")
        codes = self.fsq.indices_to_codes(tokens.view(-1, side, side))
        return torch.sigmoid(self.decoder(codes))

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.json").write_text(self.config.model_dump_json(indent=1))
        torch.save(self.state_dict(), directory / "tokenizer.pt")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> FrameTokenizer:
        directory = Path(directory)
        if not (directory / "tokenizer.pt").exists():
            raise FileNotFoundError(f"no frame tokenizer in {directory} (expected config.json and tokenizer.pt)")
        model = cls(FrameTokenizerConfig.model_validate(json.loads((directory / "config.json").read_text())))
        model.load_state_dict(torch.load(directory / "tokenizer.pt", weights_only=True))
        return model.eval()


def train_frame_tokenizer(frames: np.ndarray, config: FrameTokenizerConfig | None = None, steps: int = 500,
                          batch_size: int = 32, lr: float = 2e-3, seed: int = 0) -> FrameTokenizer:
    """Fit the autoencoder on uint8 frames [N, H, W, 3] with L1 + MSE; returns it in eval mode."""
    torch.manual_seed(seed)
    model = FrameTokenizer(config)
    data = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    rng = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        batch = data[torch.randint(len(data), (batch_size,), generator=rng)]
        recon, _ = model(batch)
        loss = (recon - batch).abs().mean() + ((recon - batch) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()
