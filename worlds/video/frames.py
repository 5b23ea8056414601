"""A video response's frames: the token layout checked, the frame codes decoded (the verifier and the
world's strip images both read responses so)."""

from __future__ import annotations

import numpy as np


def frame_tokens(response, tokens_per_frame: int, action_tokens: int, horizon: int, codebook_size: int) -> tuple[np.ndarray | None, str | None]:
    """(tokens [H, k], None) for a well-formed response, else (None, error kind): `wrong_length` for
    anything but a sequence of the layout's length, `invalid_token` for an element that is not an
    integer id of the frame codebook (action positions included: they must be ids too)."""
    k, A = tokens_per_frame, action_tokens
    ids = list(response) if isinstance(response, (list, tuple, np.ndarray)) else []
    if len(ids) != horizon * k + (horizon - 1) * A:
        return None, "wrong_length"
    if not all(isinstance(t, (int, np.integer)) and not isinstance(t, (bool, np.bool_)) for t in ids):
        return None, "invalid_token"
    frames = [ids[i * (k + A) : i * (k + A) + k] for i in range(horizon)]
    if any(t < 0 or t >= codebook_size for frame in frames for t in frame):
        return None, "invalid_token"
    return np.array(frames, dtype=np.int64), None


def frames_from_response(response, tokenizer, tokens_per_frame: int, action_tokens: int, horizon: int) -> np.ndarray | None:
    """The decoded frames as uint8 [H, h, w, 3], or None for an invalid response."""
    tokens, error = frame_tokens(response, tokens_per_frame, action_tokens, horizon, tokenizer.codebook_size)
    if error:
        return None
    return (tokenizer.decode(tokens).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
