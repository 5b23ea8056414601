"""Verifier for video prediction (RLVR-World domain 3): decode predicted frame tokens, score the frames.

The prediction is the response's token ids: H frames of k tokens, with the A given action tokens
between consecutive frames (worlds/video/world.py). The frozen frame tokenizer decodes the frames;
the reward is -(L1 + LPIPS) against the true frames, averaged over the H frames (PAPER.md). The
tokenizer and the LPIPS network are loaded once per process (per reward worker) and cached.

A prediction of the wrong length or with a token outside the frame codebook gets the floor reward
(FLOOR_REWARD, below any decodable frame's score: L1 <= 1 and LPIPS rarely exceeds 1) with the error
kind `wrong_length` / `invalid_token`; it is counted, never raised.
Metrics per sample (means over frames): mse, psnr, ssim, l1, lpips, and `repeated` (multi-step: the
last two generated frames are token-identical); `summarize` gives the paper's video table.
"""

from __future__ import annotations

import functools

import numpy as np

from rewards.registry import Verifier, register_verifier
from rewards.types import RewardResult
from worlds.video.frames import frame_tokens

FLOOR_REWARD = -2.0
METRICS = ("mse", "psnr", "ssim", "l1", "lpips")


@functools.lru_cache(maxsize=4)
def _tokenizer(path: str):
    from worlds.video.tokenizer import FrameTokenizer

    return FrameTokenizer.load(path)


@functools.lru_cache(maxsize=2)
def _lpips(net: str):
    from worlds.video.lpips import load_lpips

    return load_lpips(net)


def score_batch(predictions: list, references: list[dict]) -> list[RewardResult]:
    """Score predicted tokens against references {frames, tokenizer, tokens_per_frame, action_tokens,
    lpips_net}: the well-formed predictions that share a tokenizer and LPIPS net are decoded and measured
    in one batch (one decoder and one LPIPS pass per call, not per sample)."""
    import torch

    from worlds.video.metrics import frame_metrics

    results: list[RewardResult | None] = [None] * len(predictions)
    batches: dict[tuple, list[tuple[int, np.ndarray]]] = {}
    for i, (prediction, ref) in enumerate(zip(predictions, references)):
        tokenizer = _tokenizer(ref["tokenizer"])
        tokens, error = frame_tokens(prediction, ref["tokens_per_frame"], ref["action_tokens"], len(ref["frames"]), tokenizer.codebook_size)
        if error:
            results[i] = RewardResult(FLOOR_REWARD, {"valid": 0.0}, error)
        else:
            batches.setdefault((ref["tokenizer"], ref["lpips_net"]), []).append((i, tokens))
    for (path, net), items in batches.items():
        with torch.no_grad():
            decoded = _tokenizer(path).decode(np.concatenate([tokens for _, tokens in items]))
            # a copy: arrays from Ray are read-only
            target = torch.tensor(np.concatenate([references[i]["frames"] for i, _ in items])).permute(0, 3, 1, 2).float() / 255
            m = frame_metrics(decoded, target, _lpips(net))
        offset = 0
        for i, tokens in items:
            frames = slice(offset, offset + len(tokens))
            offset += len(tokens)
            metrics = {k: float(m[k][frames].mean()) for k in METRICS}
            metrics["valid"] = 1.0
            if len(tokens) >= 2:
                metrics["repeated"] = float(np.array_equal(tokens[-1], tokens[-2]))
            results[i] = RewardResult(float(m["reward"][frames].mean()), metrics)
    return results  # type: ignore[return-value]


def score(prediction, reference: dict) -> RewardResult:
    """Score one prediction (see score_batch)."""
    return score_batch([prediction], [reference])[0]


def summarize(results: list[RewardResult]) -> dict[str, float]:
    """The paper's video columns over the valid predictions (LPIPS also x100), the multi-step
    repetition rate, the mean reward over all predictions and the invalid rate with error counts.
    A metric with no valid prediction to average is nan."""
    valid = [r for r in results if r.error is None]
    n = max(len(results), 1)
    summary: dict[str, float] = {"num_samples": len(results), "reward_mean": sum(r.reward for r in results) / n}
    for key in METRICS:
        summary[key] = sum(r.metrics[key] for r in valid) / len(valid) if valid else float("nan")
    summary["lpips_x100"] = 100 * summary["lpips"]
    judged = [r.metrics["repeated"] for r in valid if "repeated" in r.metrics]
    summary["repetition_rate"] = sum(judged) / len(judged) if judged else float("nan")  # nan: single-step, or nothing valid
    summary["invalid_rate"] = (len(results) - len(valid)) / n
    for kind in sorted({r.error for r in results if r.error}):
        summary[f"errors/{kind}"] = sum(r.error == kind for r in results)
    return summary


register_verifier(Verifier("video", score, summarize, floor=FLOOR_REWARD, score_batch=score_batch))
