"""The MLE stage's learning-rate schedule (a pure function of the step), against hand-computed values."""

import math

import pytest

from services.config import MLEConfig
from services.mle import mle_lr


def test_constant_schedule_is_mle_lr_everywhere():
    run = MLEConfig(lr=3e-3)
    assert [mle_lr(run, s, 100) for s in (1, 50, 100)] + [mle_lr(run, 1, None)] == [3e-3] * 4


def test_cosine_decays_from_mle_lr_to_the_floor():
    run = MLEConfig(lr=3e-3, lr_schedule="cosine", min_lr_ratio=0.1)
    assert mle_lr(run, 1, 5) == pytest.approx(3e-3)
    assert mle_lr(run, 2, 5) == pytest.approx(3e-4 + 2.7e-3 * 0.5 * (1 + math.cos(math.pi / 4)))  # 2.6046e-3
    assert mle_lr(run, 3, 5) == pytest.approx(1.65e-3)  # halfway: the mean of 3e-3 and 3e-4
    assert mle_lr(run, 5, 5) == pytest.approx(3e-4)
    lrs = [mle_lr(run, s, 50) for s in range(1, 51)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


def test_a_time_budgeted_stage_continues_at_the_final_lr():
    run = MLEConfig(lr=3e-3, lr_schedule="cosine", min_lr_ratio=0.1)
    assert mle_lr(run, 1, None) == mle_lr(run, 10**6, None) == pytest.approx(3e-4)
    assert mle_lr(run, 1, 1) == pytest.approx(3e-3)  # a one-step stage takes the initial lr


def test_the_ratio_is_checked():
    with pytest.raises(ValueError, match="min_lr_ratio"):
        MLEConfig(min_lr_ratio=1.5)
