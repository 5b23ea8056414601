"""Frame tokenizer: a small convolutional autoencoder with an FSQ bottleneck (vector-quantize-pytorch).

An H x W RGB frame becomes an (H / 2**downsample) x (W / 2**downsample) grid of integer tokens in
[0, prod(levels)) (levels 7,5,5,5,5 as in the paper: 4,375 codes; 64x64 with 3 stages: 8x8 = 64
tokens; RT-1's 256x320 with 4 stages: 16x20 = 320 tokens); `decode` maps tokens back to a frame. Trained locally on CPU with an L1 + MSE (+ LPIPS)
reconstruction loss; saved as a folder (`config.json` + `tokenizer.pt`) next to a run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from worlds.config import FrameTokenizerConfig


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
        return self.config.codebook_size

    @property
    def grid(self) -> tuple[int, int]:
        return self.config.grid

    @property
    def tokens_per_frame(self) -> int:
        return self.config.tokens_per_frame

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images [N, 3, H, W] in [0, 1] -> (reconstruction, unclamped, token grid [N, h, w]).

        The output layer is linear, not a sigmoid: on a mostly white background a sigmoid saturates
        and its vanishing gradient lets training collapse to blank frames."""
        quantized, indices = self.fsq(self.encoder(images * 2 - 1))
        return self.decoder(quantized) + 0.5, indices

    @torch.no_grad()
    def encode(self, frames: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """uint8 frames [N, H, W, 3] -> int64 tokens [N, tokens_per_frame]."""
        if frames.ndim != 4 or list(frames.shape[1:3]) != list(self.config.image_size):
            raise ValueError(f"expected frames [N, {self.config.image_size[0]}, {self.config.image_size[1]}, 3], got {list(frames.shape)}")
        out = []
        for i in range(0, len(frames), batch_size):
            images = torch.from_numpy(np.ascontiguousarray(frames[i : i + batch_size])).permute(0, 3, 1, 2).float() / 255
            out.append(self.forward(images)[1].flatten(1).long().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.tokens_per_frame), np.int64)

    @torch.no_grad()
    def decode(self, tokens: np.ndarray | torch.Tensor) -> torch.Tensor:
        """tokens [N, tokens_per_frame] -> frames [N, 3, H, W] in [0, 1]. Raises ValueError on invalid tokens."""
        tokens = torch.as_tensor(tokens, dtype=torch.long)
        if tokens.dim() != 2 or tokens.shape[1] != self.tokens_per_frame:
            raise ValueError(f"expected [N, {self.tokens_per_frame}] tokens, got {list(tokens.shape)}")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.codebook_size):
            raise ValueError(f"token ids must lie in [0, {self.codebook_size})")
        codes = self.fsq.indices_to_codes(tokens.view(-1, *self.grid))
        return (self.decoder(codes) + 0.5).clamp(0, 1)

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.json").write_text(self.config.model_dump_json(indent=1))
        torch.save(self.state_dict(), directory / "tokenizer.pt")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> FrameTokenizer:
        model = cls(FrameTokenizerConfig.read(directory))
        model.load_state_dict(torch.load(Path(directory) / "tokenizer.pt", weights_only=True))
        return model.eval()


def train_frame_tokenizer(frames: np.ndarray, config: FrameTokenizerConfig | None = None, steps: int = 500,
                          batch_size: int = 32, lr: float = 2e-3, seed: int = 0, perceptual_weight: float = 0.0,
                          lpips_net: str = "alex") -> FrameTokenizer:
    """Fit the autoencoder on uint8 frames [N, H, W, 3] with L1 + MSE (+ `perceptual_weight` * LPIPS,
    as VQGAN trains: it keeps small moving objects that a pixel loss on a plain background blurs away);
    returns it in eval mode."""
    torch.manual_seed(seed)
    model = FrameTokenizer(config)
    perceptual = None
    if perceptual_weight > 0:
        from worlds.video.lpips import load_lpips

        perceptual = load_lpips(lpips_net)
    data = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    rng = torch.Generator().manual_seed(seed)
    model.train()
    from tqdm import tqdm

    for _ in tqdm(range(steps), desc="frame tokenizer", unit="step", disable=None, leave=False):  # a bar on a terminal only
        batch = data[torch.randint(len(data), (batch_size,), generator=rng)]
        recon, _ = model(batch)
        loss = (recon - batch).abs().mean() + ((recon - batch) ** 2).mean()
        if perceptual is not None:
            loss = loss + perceptual_weight * perceptual(recon * 2 - 1, batch * 2 - 1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()
