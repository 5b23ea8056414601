"""Typed settings of the reward-worker pool."""

from __future__ import annotations

from pydantic import Field

from core.actors import PoolConfig


class RewardConfig(PoolConfig):
    """How predictions are verified: the verifier and the pool of reward workers (count, cpus, gpus, resources: per worker)."""

    verifier: str | None = Field(None, description="Registered verifier name or 'module:function'; unset = the world's own")
    count: int = Field(1, ge=1, description="Reward workers scoring in parallel (`rlvr ctl scale rewards=N` while a job runs)")
    cpus: float = Field(0.25, gt=0.0, description="Ray CPUs reserved per reward worker (its torch threads: at least 1)")
    batch_size: int = Field(64, ge=1, description="Predictions per reward-worker call")
    timeout_s: float = Field(30.0, gt=0.0, description="A scoring call that takes longer (counted from when a ready worker got it) is cut off and its worker replaced; a batch is then scored again one sample per call, and a sample that hangs alone gets the floor reward ('timeout'), counted")
    max_attempts: int = Field(3, ge=1, description="Workers a batch is tried on when its workers die (the first included) before its samples get the floor reward ('worker_died'), counted")
