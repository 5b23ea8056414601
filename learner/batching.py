"""Turning token-id samples into padded tensors for the learner (no model, no Ray).

A sample is a dict with `prompt_ids` and `response_ids` (lists of ints), optionally `loss_mask`
(one 0/1 per response token: 0 for tokens that were given, not generated, e.g. the true actions
of an interactive video rollout), optionally `allowed` ([lo, hi): the token-id range its trained
tokens were sampled from), and, for GRPO, `advantage` (float) and optionally
`old_logprobs` / `ref_logprobs` / `rollout_logprobs` (one float per response token). Sequences are right-padded;
position t of the shifted tensors predicts token t + 1, and `mask` marks the positions that predict
trained response tokens (prompt, given tokens and padding excluded).
"""

from __future__ import annotations

import torch

PAD_ID = 0
LOGPROB_KEYS = ("old_logprobs", "ref_logprobs", "rollout_logprobs")


def pad_batch(samples: list[dict]) -> dict[str, torch.Tensor]:
    """input_ids / attention_mask [B, L]; targets / mask [B, L-1] (shifted); advantages [B]; logprob rows [B, L-1];
    allowed [B, 2] when any sample has a range (the others get all ids)."""
    lengths = [len(s["prompt_ids"]) + len(s["response_ids"]) for s in samples]
    width = max(lengths)
    input_ids = torch.full((len(samples), width), PAD_ID, dtype=torch.long)
    attention = torch.zeros((len(samples), width), dtype=torch.long)
    mask = torch.zeros((len(samples), width - 1), dtype=torch.float32)
    rows = {key: torch.zeros((len(samples), width - 1)) for key in LOGPROB_KEYS if key in samples[0]}
    for i, s in enumerate(samples):
        prompt, response = s["prompt_ids"], s["response_ids"]
        ids = list(prompt) + list(response)
        input_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention[i, : len(ids)] = 1
        start, end = len(prompt) - 1, len(ids) - 1  # shifted positions that predict the response tokens
        mask[i, start:end] = torch.tensor(s["loss_mask"], dtype=torch.float32) if "loss_mask" in s else 1.0
        for key, row in rows.items():
            row[i, start:end] = torch.tensor(s[key], dtype=torch.float32)
    batch = {"input_ids": input_ids, "attention_mask": attention, "targets": input_ids[:, 1:], "mask": mask, **rows}
    if any("allowed" in s for s in samples):
        batch["allowed"] = torch.tensor([list(s.get("allowed", (0, 2**62))) for s in samples], dtype=torch.long)
    if "advantage" in samples[0]:
        batch["advantages"] = torch.tensor([float(s["advantage"]) for s in samples])
    return batch


def response_values(row: torch.Tensor, sample: dict) -> list[float]:
    """The per-response-token values of one shifted row (inverse of the padding above)."""
    start = len(sample["prompt_ids"]) - 1
    return row[start : start + len(sample["response_ids"])].tolist()


def loss_tokens(sample: dict) -> int:
    """Response tokens a sample is trained on."""
    return int(sum(sample["loss_mask"])) if "loss_mask" in sample else len(sample["response_ids"])


def chunks(items: list, size: int) -> list[list]:
    """Consecutive slices of at most `size` items."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def sequence_length(sample: dict) -> int:
    return len(sample["prompt_ids"]) + len(sample["response_ids"])


def token_budget_batches(samples: list[dict], max_tokens: int) -> list[list[int]]:
    """Micro-batches as lists of sample indices, each padding to at most `max_tokens` tokens
    (count x longest sequence). Samples are sorted by length, longest first, so sequences of similar
    length share a micro-batch and little is padding; a sequence longer than the budget goes alone."""
    order = sorted(range(len(samples)), key=lambda i: -sequence_length(samples[i]))
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * sequence_length(samples[batches[-1][0]]) <= max_tokens:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def padding_fraction(samples: list[dict], batches: list[list[int]]) -> float:
    """Share of the padded token slots of `batches` that hold padding."""
    padded = sum(len(b) * max(sequence_length(samples[i]) for i in b) for b in batches)
    return 1.0 - sum(map(sequence_length, samples)) / max(padded, 1)
