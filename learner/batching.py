"""Turning Samples (core/protocol.py) into padded tensors for the learner (no model, no Ray).

Sequences are right-padded; position t of the shifted tensors predicts token t + 1, and `mask`
marks the positions that predict trained response tokens (prompt, given tokens and padding excluded).
Per-token values that travel with a sample (old / reference / rollout log-probs: one float per
response token) are padded the same way, as rows [B, L-1].
"""

from __future__ import annotations

import torch

from core.protocol import Sample

PAD_ID = 0


def pad_batch(samples: list[Sample], rows: dict[str, list[list[float]]] | None = None, advantages: list[float] | None = None) -> dict[str, torch.Tensor]:
    """input_ids / attention_mask [B, L]; targets / mask [B, L-1] (shifted); each of `rows` (and the
    samples' rollout log-probs, when they have them) as [B, L-1]; advantages [B]; allowed [B, 2] when
    any sample has an id range (the others get all ids)."""
    rows = dict(rows or {})
    if samples[0].rollout_logprobs is not None:
        rows.setdefault("rollout_logprobs", [s.rollout_logprobs for s in samples])
    width = max(s.length for s in samples)
    input_ids = torch.full((len(samples), width), PAD_ID, dtype=torch.long)
    attention = torch.zeros((len(samples), width), dtype=torch.long)
    mask = torch.zeros((len(samples), width - 1), dtype=torch.float32)
    padded = {key: torch.zeros((len(samples), width - 1)) for key in rows}
    for i, s in enumerate(samples):
        ids = list(s.prompt_ids) + list(s.response_ids)
        input_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention[i, : len(ids)] = 1
        start, end = len(s.prompt_ids) - 1, len(ids) - 1  # shifted positions that predict the response tokens
        mask[i, start:end] = torch.tensor(s.loss_mask, dtype=torch.float32) if s.loss_mask is not None else 1.0
        for key, values in rows.items():
            padded[key][i, start:end] = torch.tensor(values[i], dtype=torch.float32)
    batch = {"input_ids": input_ids, "attention_mask": attention, "targets": input_ids[:, 1:], "mask": mask, **padded}
    if any(s.allowed is not None for s in samples):
        batch["allowed"] = torch.tensor([list(s.allowed or (0, 2**62)) for s in samples], dtype=torch.long)
    if advantages is not None:
        batch["advantages"] = torch.tensor(advantages, dtype=torch.float32)
    return batch


def response_values(row: torch.Tensor, sample: Sample) -> list[float]:
    """The per-response-token values of one shifted row (inverse of the padding above)."""
    start = len(sample.prompt_ids) - 1
    return row[start : start + len(sample.response_ids)].tolist()


def chunks(items: list, size: int) -> list[list]:
    """Consecutive slices of at most `size` items."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def token_budget_batches(samples: list[Sample], max_tokens: int) -> list[list[int]]:
    """Micro-batches as lists of sample indices, each padding to at most `max_tokens` tokens
    (count x longest sequence). Samples are sorted by length, longest first, so sequences of similar
    length share a micro-batch and little is padding; a sequence longer than the budget goes alone."""
    order = sorted(range(len(samples)), key=lambda i: -samples[i].length)
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * samples[batches[-1][0]].length <= max_tokens:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def padding_fraction(samples: list[Sample], batches: list[list[int]]) -> float:
    """Share of the padded token slots of `batches` that hold padding."""
    padded = sum(len(b) * max(samples[i].length for i in b) for b in batches)
    return 1.0 - sum(s.length for s in samples) / max(padded, 1)
