"""GRPO math as pure tensor functions: advantages, policy loss, KL, entropy, aggregation, MLE.

No Ray, no DeepSpeed: every function takes tensors and returns tensors, so it is unit-tested on CPU
against hand-computed values (tests/learner/test_algorithms.py).

Shapes: `rewards` and `group_ids` are [num_samples]; token-level tensors are [batch, seq_len] with a
`mask` that is 1.0 on response tokens and 0.0 on prompt and padding tokens.

Variants are registered by name so that configs select them as strings:
- ADVANTAGE_ESTIMATORS: "grpo" (paper), "dr_grpo", "rloo", "scst" (needs each prompt's greedy reward)
- KL_ESTIMATORS: "k1", "k2", "k3" (the paper's "low_var_kl")
- LOSS_AGGREGATIONS: "token-mean" (paper), "seq-mean-token-mean", "seq-mean-token-sum-norm"
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

GROUP_STD_EPS = 1e-6  # the paper's epsilon in (R - mean) / (std + eps)


def _group_stats(rewards: Tensor, group_ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-sample group sum, group size and group unbiased std (0 for groups of one)."""
    rewards = rewards.to(torch.float64)
    _, inverse = torch.unique(group_ids, return_inverse=True)
    num_groups = int(inverse.max()) + 1 if inverse.numel() else 0
    size = torch.zeros(num_groups, dtype=rewards.dtype).index_add_(0, inverse, torch.ones_like(rewards))
    total = torch.zeros(num_groups, dtype=rewards.dtype).index_add_(0, inverse, rewards)
    mean = total / size
    sq_dev = torch.zeros(num_groups, dtype=rewards.dtype).index_add_(0, inverse, (rewards - mean[inverse]) ** 2)
    std = torch.where(size > 1, torch.sqrt(sq_dev / (size - 1).clamp(min=1)), torch.zeros_like(size))
    return total[inverse], size[inverse], std[inverse]


def grpo_advantages(rewards: Tensor, group_ids: Tensor) -> Tensor:
    """(R - group mean) / (group std + 1e-6) with the unbiased std; a group of one gets 0."""
    total, size, std = _group_stats(rewards, group_ids)
    centred = rewards.to(torch.float64) - total / size
    return (centred / (std + GROUP_STD_EPS)).to(rewards.dtype)


def dr_grpo_advantages(rewards: Tensor, group_ids: Tensor) -> Tensor:
    """Dr. GRPO: R - group mean, no division by the std."""
    total, size, _ = _group_stats(rewards, group_ids)
    return (rewards.to(torch.float64) - total / size).to(rewards.dtype)


def rloo_advantages(rewards: Tensor, group_ids: Tensor) -> Tensor:
    """RLOO: R minus the mean of the OTHER samples of its group; a group of one gets 0."""
    total, size, _ = _group_stats(rewards, group_ids)
    r = rewards.to(torch.float64)
    others_mean = (total - r) / (size - 1).clamp(min=1)
    return torch.where(size > 1, r - others_mean, torch.zeros_like(r)).to(rewards.dtype)


def scst_advantages(rewards: Tensor, group_ids: Tensor, greedy: Tensor | None = None) -> Tensor:
    """Self-critical (Rennie et al., 2017) at GRPO's scale: (R - the greedy answer's reward for the same
    prompt) / (std of the group's rewards and its greedy reward + 1e-6). A sample is pushed up only when
    it beats what greedy decoding answers now, so the update moves the greedy mode that evaluation reads.
    `greedy` is per sample (equal within a group)."""
    if greedy is None:
        raise ValueError("scst needs the greedy reward of each sample's prompt (the pipeline's greedy_baseline)")
    r, b = rewards.to(torch.float64), greedy.to(torch.float64)
    groups, inverse = torch.unique(group_ids, return_inverse=True)
    per_group = torch.zeros(len(groups), dtype=torch.float64).index_copy_(0, inverse, b)
    _, _, std = _group_stats(torch.cat([r, per_group]), torch.cat([inverse, torch.arange(len(groups))]))
    return ((r - b) / (std[: len(r)] + GROUP_STD_EPS)).to(rewards.dtype)


ADVANTAGE_ESTIMATORS: dict[str, Callable[..., Tensor]] = {
    "grpo": grpo_advantages,
    "dr_grpo": dr_grpo_advantages,
    "rloo": rloo_advantages,
    "scst": scst_advantages,
}
NEEDS_GREEDY = frozenset({"scst"})  # estimators that take each prompt's greedy reward as `greedy`


def kl_k1(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    """k1 = log pi - log pi_ref (unbiased, high variance, can be negative)."""
    return logprobs - ref_logprobs


def kl_k2(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    """k2 = 0.5 * (log pi - log pi_ref)^2."""
    return 0.5 * (logprobs - ref_logprobs) ** 2


def kl_k3(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    """k3 ("low_var_kl") = exp(ref - logp) - (ref - logp) - 1, always >= 0 (the paper's choice)."""
    log_ratio = (ref_logprobs - logprobs).clamp(-20.0, 20.0)
    return torch.exp(log_ratio) - log_ratio - 1.0


KL_ESTIMATORS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"k1": kl_k1, "k2": kl_k2, "k3": kl_k3}


def masked_token_mean(values: Tensor, mask: Tensor, norm_tokens: float | None = None) -> Tensor:
    """Mean over every response token of the batch (the paper's token-mean)."""
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def masked_seq_mean_token_mean(values: Tensor, mask: Tensor, norm_tokens: float | None = None) -> Tensor:
    """Mean over sequences of each sequence's token mean (sequences without response tokens skipped)."""
    tokens = mask.sum(-1)
    per_seq = (values * mask).sum(-1) / tokens.clamp(min=1.0)
    has_tokens = (tokens > 0).to(values.dtype)
    return (per_seq * has_tokens).sum() / has_tokens.sum().clamp(min=1.0)


def masked_seq_mean_token_sum_norm(values: Tensor, mask: Tensor, norm_tokens: float | None = None) -> Tensor:
    """Dr. GRPO's aggregation: the mean over sequences of each sequence's token SUM divided by a
    constant, `norm_tokens` (the generation budget, as Dr. GRPO and veRL use), so the loss scale does
    not move with how sequences are padded or packed."""
    if norm_tokens is None or norm_tokens <= 0:
        raise ValueError("seq-mean-token-sum-norm needs a positive constant norm_tokens (learner.algorithm.norm_tokens)")
    return (values * mask).sum() / (mask.shape[0] * norm_tokens)


LOSS_AGGREGATIONS: dict[str, Callable[..., Tensor]] = {  # (values, mask, norm_tokens) -> scalar
    "token-mean": masked_token_mean,
    "seq-mean-token-mean": masked_seq_mean_token_mean,
    "seq-mean-token-sum-norm": masked_seq_mean_token_sum_norm,
}


def clipped_policy_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    dual_clip: float | None = None,
) -> tuple[Tensor, Tensor]:
    """Per-token PPO clipped loss and per-token clip indicator.

    loss = max(-A * r, -A * clip(r, 1 - eps_low, 1 + eps_high)); with dual-clip c > 1 the loss of a
    negative-advantage token is additionally capped at -A * c. `advantages` broadcast from [batch]
    to [batch, seq] when given per sample. Returns (loss, clipped) where clipped is 1.0 where the
    clipped branch was chosen.
    """
    if advantages.dim() == logprobs.dim() - 1:
        advantages = advantages.unsqueeze(-1)
    ratio = torch.exp((logprobs - old_logprobs).clamp(-20.0, 20.0))
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high)
    loss = torch.maximum(unclipped, clipped)
    was_clipped = (clipped > unclipped).to(logprobs.dtype)
    if dual_clip is not None:
        if dual_clip <= 1.0:
            raise ValueError(f"dual_clip must be > 1.0, got {dual_clip}")
        capped = torch.minimum(loss, -advantages * dual_clip)
        loss = torch.where(advantages < 0, capped, loss)
    return loss, was_clipped


def truncated_importance_weights(old_logprobs: Tensor, behaviour_logprobs: Tensor, cap: float) -> Tensor:
    """Per-token min(pi_old / pi_behaviour, cap), no gradient: the truncated importance sampling (TIS)
    correction of decoupled PPO for samples drawn by another policy than the one the PPO ratio is
    taken against (stale rollout weights in async mode, or the rollout engine's other numerics)."""
    return torch.exp((old_logprobs - behaviour_logprobs).clamp(-20.0, 20.0)).clamp(max=cap).detach()


def restrict_logits(logits: Tensor, allowed: Tensor, mask: Tensor) -> Tensor:
    """Logits [B, T, V] with every token outside its sample's id range allowed[b] = [lo, hi) pushed to the
    dtype's minimum at the positions where mask [B, T] > 0: the distribution the rollout sampled from
    when it was restricted to that range (vLLM's allowed_token_ids). Finite, so entropies stay defined."""
    ids = torch.arange(logits.shape[-1], device=logits.device)
    outside = (ids < allowed[:, :1]) | (ids >= allowed[:, 1:])  # [B, V]
    return logits.masked_fill(outside[:, None, :] & (mask[..., None] > 0), torch.finfo(logits.dtype).min)


def token_logprobs(logits: Tensor, tokens: Tensor) -> Tensor:
    """log p(token) under `logits`, gathered per position: [batch, seq, vocab] x [batch, seq] -> [batch, seq]."""
    return token_logprobs_and_entropy(logits, tokens)[0]


def token_logprobs_and_entropy(logits: Tensor, tokens: Tensor, with_entropy: bool = False) -> tuple[Tensor, Tensor | None]:
    """(log p(token) per position, and with `with_entropy` each position's entropy) from one log-softmax
    over the vocabulary: the learner's loss needs both, and the softmax is most of a small model's cost."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    picked = logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    return picked, (-(logp.exp() * logp).sum(-1) if with_entropy else None)


def grpo_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    ref_logprobs: Tensor | None = None,
    entropy: Tensor | None = None,
    behaviour_logprobs: Tensor | None = None,
    tis_cap: float | None = None,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    dual_clip: float | None = None,
    kl_coef: float = 0.0,
    kl_estimator: str = "k3",
    entropy_coef: float = 0.0,
    aggregation: str = "token-mean",
    norm_tokens: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """The full GRPO objective: clipped policy loss + kl_coef * KL - entropy_coef * entropy.

    With `tis_cap`, each token's policy loss is weighted by min(pi_old / pi_behaviour, tis_cap)
    (`behaviour_logprobs`: the log-probs the rollout sampled with). Returns the scalar loss and
    detached metrics (policy loss, KL, entropy, clip fraction, mean TIS weight). `norm_tokens`: the
    constant of the seq-mean-token-sum-norm aggregation.
    """
    def aggregate(values: Tensor, mask: Tensor) -> Tensor:
        return LOSS_AGGREGATIONS[aggregation](values, mask, norm_tokens)

    per_token, clipped = clipped_policy_loss(logprobs, old_logprobs, advantages, eps_low, eps_high, dual_clip)
    metrics = {"clip_frac": masked_token_mean(clipped, mask).detach()}
    if tis_cap is not None:
        if behaviour_logprobs is None:
            raise ValueError("tis_cap needs behaviour_logprobs")
        weights = truncated_importance_weights(old_logprobs, behaviour_logprobs, tis_cap)
        per_token = per_token * weights
        metrics["tis_weight"] = masked_token_mean(weights, mask)
    policy_loss = aggregate(per_token, mask)
    loss = policy_loss
    metrics["policy_loss"] = policy_loss.detach()
    if kl_coef > 0.0:
        if ref_logprobs is None:
            raise ValueError("kl_coef > 0 needs ref_logprobs")
        kl = aggregate(KL_ESTIMATORS[kl_estimator](logprobs, ref_logprobs), mask)
        loss = loss + kl_coef * kl
        metrics["kl"] = kl.detach()
    if entropy is not None:
        mean_entropy = aggregate(entropy, mask)
        loss = loss - entropy_coef * mean_entropy
        metrics["entropy"] = mean_entropy.detach()
    return loss, metrics


def sequence_kl(logprobs: Tensor, ref_logprobs: Tensor, mask: Tensor, kl_estimator: str = "k1") -> Tensor:
    """Per sequence, the KL estimate summed over its response tokens: [B, T] -> [B] (KL in the reward)."""
    return (KL_ESTIMATORS[kl_estimator](logprobs, ref_logprobs) * mask).sum(-1)


def kl_penalised_rewards(rewards: Tensor, kl: Tensor, kl_coef: float) -> Tensor:
    """KL in the reward instead of the loss: R - kl_coef * the sequence's KL (see sequence_kl)."""
    return rewards - kl_coef * kl


def mle_loss(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Cross-entropy on response tokens only (MLE / SFT); logits[:, t] predicts targets[:, t]."""
    nll = -token_logprobs(logits, targets)
    return masked_token_mean(nll, mask.to(nll.dtype))
