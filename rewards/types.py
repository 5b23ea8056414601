"""What every verifier returns for one prediction."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RewardResult:
    """A scalar reward, per-sample metrics (floats), and the error kind when the prediction failed."""

    reward: float
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
