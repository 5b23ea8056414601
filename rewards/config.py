"""Typed settings of the reward-worker pool."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RewardConfig(BaseModel):
    """How predictions are verified."""

    model_config = ConfigDict(extra="forbid")

    verifier: str | None = Field(None, description="Registered verifier name or 'module:function'; unset = the world's own")
    num_workers: int = Field(1, ge=1, description="Reward-worker actors scoring in parallel")
    cpus_per_worker: float = Field(0.25, gt=0.0, description="Ray CPUs reserved per reward worker (its torch threads: at least 1)")
    resources: dict[str, float] = Field(default_factory=dict, description="Custom Ray resources per reward worker, e.g. {reward_slot: 1}: workers go only to nodes that provide them (the reward worker group in deploy/)")
    batch_size: int = Field(64, ge=1, description="Predictions per reward-worker call")
    timeout_s: float = Field(30.0, gt=0.0, description="A scoring call that takes longer (counted from when a ready worker got it) is cut off and its worker replaced; a batch is then scored again one sample per call, and a sample that hangs alone gets the floor reward ('timeout'), counted")
    max_attempts: int = Field(3, ge=1, description="Workers a batch is tried on when its workers die (the first included) before its samples get the floor reward ('worker_died'), counted")
