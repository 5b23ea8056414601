"""Typed settings of the learner: the GRPO / MLE algorithm and the DeepSpeed ranks that run it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.actors import PoolConfig

# The names below must equal the registries in learner/algorithms.py (checked by a unit test);
# they are spelled out here so that reading a config does not import torch.
AdvantageEstimator = Literal["grpo", "dr_grpo", "rloo", "scst"]
KLEstimator = Literal["k1", "k2", "k3"]
LossAggregation = Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"]


class AlgorithmConfig(BaseModel):
    """GRPO objective (defaults: the paper's text-game settings)."""

    model_config = ConfigDict(extra="forbid")

    advantage_estimator: AdvantageEstimator = Field("grpo", description="Group advantage: grpo (paper), dr_grpo, rloo, or scst (self-critical: against a greedy answer generated per prompt, the mode evaluation reads)")
    eps_low: float = Field(0.2, ge=0.0, lt=1.0, description="Lower clip range of the importance ratio (1 - eps_low)")
    eps_high: float = Field(0.2, ge=0.0, description="Upper clip range of the importance ratio (1 + eps_high); > eps_low = clip-higher")
    dual_clip: float | None = Field(None, gt=1.0, description="Dual-clip bound c for negative advantages (paper video: 3.0); unset = off")
    kl_coef: float = Field(1e-3, ge=0.0, description="KL coefficient against the frozen initial model (0 = no reference model)")
    kl_estimator: KLEstimator = Field("k3", description="KL estimator: k1, k2 or k3 (paper: k3, 'low_var_kl')")
    kl_in_reward: bool = Field(False, description="Put the KL penalty in the reward instead of the loss (paper: in the loss)")
    entropy_coef: float = Field(1e-3, ge=0.0, description="Entropy bonus coefficient (paper: 0.001 language, 0 video)")
    loss_aggregation: LossAggregation = Field("token-mean", description="How token losses are averaged (paper: token-mean)")
    norm_tokens: int | None = Field(None, ge=1, description="The constant divisor (tokens per sequence) of seq-mean-token-sum-norm (Dr. GRPO); unset = rollout.sampling.max_new_tokens")
    tis_cap: float | None = Field(None, gt=0.0, description="Truncated importance sampling: weight each token's loss by min(pi_old / pi_rollout, tis_cap), correcting for the rollout policy (stale weights in async mode, another precision); unset = off")


class LearnerConfig(PoolConfig):
    """DeepSpeed learner ranks (count, cpus, gpus, resources: per rank), the optimiser and the GRPO objective;
    the learning rates are the stages' (mle.lr, rl.lr)."""

    count: int = Field(1, ge=1, description="Learner ranks (DeepSpeed world size), one Ray actor each, placed together")
    zero_stage: Literal[0, 1, 2, 3] = Field(2, description="DeepSpeed ZeRO stage")
    dtype: Literal["float32", "bfloat16"] = Field("float32", description="Training precision")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay")
    grad_clip: float = Field(1.0, gt=0.0, description="Gradient-norm clip")
    micro_batch_tokens: int = Field(8192, ge=1, description="Padded tokens per forward/backward pass on one rank (samples sorted by length and packed up to this budget)")
    timeout_s: float = Field(1800.0, gt=0.0, description="A learner call (a training step, a checkpoint, a weight export or broadcast) that has not finished on every rank within this long fails the group, which is re-created from the newest checkpoint; also the ranks' collective timeout")
    old_logprobs: Literal["auto", "rollout", "recompute"] = Field("auto", description="Old log-probs of the PPO ratio: the rollout's sampled ones (no extra forward pass; exact when engine and learner compute alike), recomputed by the learner, or auto = rollout when rollout and learner run float32 and sampling is not truncated by top-k / top-p")
    algorithm: AlgorithmConfig = Field(default_factory=AlgorithmConfig, description="GRPO objective")
