"""GRPO math against hand-computed values (learner/algorithms.py)."""

import math

import pytest
import torch

from learner import algorithms as alg


def t(x):
    return torch.tensor(x, dtype=torch.float32)


def test_grpo_advantage_hand_computed():
    # group 0: rewards 1,0,0,1 -> mean 0.5, unbiased std sqrt(1/3); group 1: 2,2 -> identical
    adv = alg.grpo_advantages(t([1, 0, 0, 1, 2, 2]), torch.tensor([0, 0, 0, 0, 1, 1]))
    a = 0.5 / (math.sqrt(1 / 3) + 1e-6)
    torch.testing.assert_close(adv, t([a, -a, -a, a, 0, 0]))


def test_identical_rewards_give_zero_not_nan():
    for name, fn in alg.ADVANTAGE_ESTIMATORS.items():
        adv = fn(t([0.7, 0.7, 0.7]), torch.tensor([3, 3, 3]), **({"greedy": t([0.7] * 3)} if name in alg.NEEDS_GREEDY else {}))
        assert torch.isfinite(adv).all(), name
        assert torch.equal(adv, torch.zeros(3)), name


def test_group_of_one_gets_zero_advantage():
    for name, fn in alg.ADVANTAGE_ESTIMATORS.items():
        if name in alg.NEEDS_GREEDY:
            continue  # its baseline is the greedy answer, not the group: a lone sample is still judged (below)
        adv = fn(t([5.0, 1.0, 0.0]), torch.tensor([0, 1, 1]))
        assert adv[0].item() == 0.0, name
        assert torch.isfinite(adv).all(), name


def test_dr_grpo_and_rloo_hand_computed():
    r, g = t([1, 0, 0, 1]), torch.tensor([7, 7, 7, 7])
    torch.testing.assert_close(alg.dr_grpo_advantages(r, g), t([0.5, -0.5, -0.5, 0.5]))
    # RLOO: for a 1, the others average 1/3; for a 0, the others average 2/3
    torch.testing.assert_close(alg.rloo_advantages(r, g), t([2 / 3, -2 / 3, -2 / 3, 2 / 3]))


def test_scst_hand_computed():
    # group 0: samples 1, 0, 0 and greedy 0 -> std of (1, 0, 0, 0) = 0.5; group 1: one sample 2, greedy 2
    adv = alg.scst_advantages(t([1, 0, 2, 0]), torch.tensor([5, 5, 9, 5]), greedy=t([0, 0, 2, 0]))
    torch.testing.assert_close(adv, t([1 / (0.5 + 1e-6), 0, 0, 0]))
    # every sample right, greedy wrong: std of (1, 1, 0) = sqrt(1/3), never a division by zero
    adv = alg.scst_advantages(t([1, 1]), torch.tensor([0, 0]), greedy=t([0, 0]))
    torch.testing.assert_close(adv, t([1, 1]) / (math.sqrt(1 / 3) + 1e-6))
    with pytest.raises(ValueError, match="greedy reward"):
        alg.scst_advantages(t([1, 0]), torch.tensor([0, 0]))


def test_groups_need_not_be_contiguous():
    a = alg.grpo_advantages(t([1, 5, 0, 5]), torch.tensor([0, 1, 0, 1]))
    b = alg.grpo_advantages(t([1, 0]), torch.tensor([0, 0]))
    torch.testing.assert_close(a[[0, 2]], b)
    assert a[1] == 0 and a[3] == 0


def _loss(ratio, adv, **kw):
    logp = torch.log(t([ratio]))
    return alg.clipped_policy_loss(logp, torch.zeros(1), t([adv]), **kw)


@pytest.mark.parametrize(
    "ratio, adv, kw, loss, clipped",
    [
        (1.5, 1.0, {}, -1.2, 1.0),  # positive advantage, ratio above 1 + eps: clipped
        (0.5, 1.0, {}, -0.5, 0.0),  # positive advantage, ratio below: not clipped
        (0.5, -1.0, {}, 0.8, 1.0),  # negative advantage, ratio below 1 - eps: clipped
        (1.5, -1.0, {}, 1.5, 0.0),  # negative advantage, ratio above: not clipped
        (1.5, 1.0, {"eps_high": 0.28}, -1.28, 1.0),  # clip-higher
        (0.5, -1.0, {"eps_low": 0.1}, 0.9, 1.0),
        (5.0, -1.0, {"dual_clip": 3.0}, 3.0, 0.0),  # dual-clip caps the negative-advantage loss at c*|A|
        (5.0, 1.0, {"dual_clip": 3.0}, -1.2, 1.0),  # dual-clip leaves positive advantages alone
    ],
)
def test_clipped_policy_loss(ratio, adv, kw, loss, clipped):
    got_loss, got_clipped = _loss(ratio, adv, **kw)
    assert got_loss.item() == pytest.approx(loss, abs=1e-6)
    assert got_clipped.item() == clipped


def test_dual_clip_must_exceed_one():
    with pytest.raises(ValueError, match="dual_clip"):
        _loss(1.0, 1.0, dual_clip=0.5)


@pytest.mark.parametrize("adv, sign", [(1.0, -1.0), (-1.0, 1.0)])
def test_gradient_sign(adv, sign):
    logp = torch.zeros(1, 3, requires_grad=True)
    loss, _ = alg.grpo_loss(logp, torch.zeros(1, 3), t([adv]), torch.ones(1, 3))
    loss.backward()
    # positive advantage: descending the loss raises the log-prob (gradient negative), and vice versa
    assert (torch.sign(logp.grad) == sign).all()


def test_kl_estimators_hand_computed():
    logp, ref = torch.log(t([0.5])), torch.log(t([0.25]))
    assert alg.kl_k1(logp, ref).item() == pytest.approx(math.log(2), rel=1e-6)
    assert alg.kl_k2(logp, ref).item() == pytest.approx(0.5 * math.log(2) ** 2, rel=1e-6)
    assert alg.kl_k3(logp, ref).item() == pytest.approx(0.5 + math.log(2) - 1, rel=1e-5)
    same = alg.KL_ESTIMATORS["k3"](logp, logp)
    assert same.item() == 0.0


def test_aggregations_hand_computed_and_mask_excludes_prompt_and_padding():
    values = t([[1, 2, 3], [4, 1e6, -1e6]])  # the huge values sit on masked (prompt/padding) positions
    mask = t([[1, 1, 1], [1, 0, 0]])
    assert alg.LOSS_AGGREGATIONS["token-mean"](values, mask).item() == pytest.approx(2.5)
    assert alg.LOSS_AGGREGATIONS["seq-mean-token-mean"](values, mask).item() == pytest.approx(3.0)
    # Dr. GRPO: token sums (6 and 4) over 2 sequences x a constant budget of 5 tokens, whatever the padded width
    assert alg.LOSS_AGGREGATIONS["seq-mean-token-sum-norm"](values, mask, 5).item() == pytest.approx(10 / 10)
    wider = (torch.cat([values, torch.zeros(2, 4)], 1), torch.cat([mask, torch.zeros(2, 4)], 1))  # the same sequences packed wider
    assert alg.LOSS_AGGREGATIONS["seq-mean-token-sum-norm"](*wider, 5).item() == pytest.approx(10 / 10)
    with pytest.raises(ValueError, match="norm_tokens"):
        alg.LOSS_AGGREGATIONS["seq-mean-token-sum-norm"](values, mask)


def test_masked_tokens_get_no_gradient():
    logp = torch.zeros(1, 4, requires_grad=True)
    mask = t([[0, 1, 1, 0]])  # prompt token, two response tokens, padding
    loss, _ = alg.grpo_loss(logp, torch.zeros(1, 4), t([1.0]), mask, ref_logprobs=torch.zeros(1, 4), kl_coef=0.1)
    loss.backward()
    assert logp.grad[0, 0] == 0 and logp.grad[0, 3] == 0
    assert logp.grad[0, 1] != 0 and logp.grad[0, 2] != 0


def test_grpo_loss_combines_terms_and_reports_metrics():
    logp = torch.log(t([[0.5, 0.5]]))
    ref = torch.log(t([[0.25, 0.25]]))
    entropy = t([[1.0, 3.0]])
    loss, m = alg.grpo_loss(
        logp, logp.clone(), t([2.0]), torch.ones(1, 2), ref_logprobs=ref, entropy=entropy,
        kl_coef=0.1, kl_estimator="k3", entropy_coef=0.01,
    )
    k3 = 0.5 + math.log(2) - 1
    assert m["policy_loss"].item() == pytest.approx(-2.0)
    assert m["kl"].item() == pytest.approx(k3, rel=1e-5)
    assert m["entropy"].item() == pytest.approx(2.0)
    assert m["clip_frac"].item() == 0.0
    assert loss.item() == pytest.approx(-2.0 + 0.1 * k3 - 0.01 * 2.0, rel=1e-5)


def test_kl_needs_reference():
    with pytest.raises(ValueError, match="ref_logprobs"):
        alg.grpo_loss(torch.zeros(1, 1), torch.zeros(1, 1), t([1.0]), torch.ones(1, 1), kl_coef=0.1)


def test_kl_in_reward():
    logp, ref = torch.log(t([[0.5, 0.5, 0.9]])), torch.log(t([[0.25, 0.25, 0.1]]))
    mask = t([[1, 1, 0]])
    kl = alg.sequence_kl(logp, ref, mask, kl_estimator="k1")  # log 2 on each of the two response tokens
    assert kl.tolist() == pytest.approx([2 * math.log(2)], rel=1e-6)
    got = alg.kl_penalised_rewards(t([1.0]), kl, kl_coef=0.5)
    assert got.item() == pytest.approx(1.0 - 0.5 * 2 * math.log(2), rel=1e-6)


def test_entropy_and_token_logprobs():
    logits = torch.zeros(1, 2, 4)
    torch.testing.assert_close(alg.token_logprobs_and_entropy(logits, torch.zeros(1, 2, dtype=torch.long), with_entropy=True)[1],
                               torch.full((1, 2), math.log(4)))
    logits = torch.log(t([[[0.1, 0.2, 0.7]]]))
    assert alg.token_logprobs(logits, torch.tensor([[2]])).item() == pytest.approx(math.log(0.7), rel=1e-6)
    logp, entropy = alg.token_logprobs_and_entropy(logits, torch.tensor([[2]]), with_entropy=True)  # one softmax for both
    assert logp.item() == pytest.approx(math.log(0.7), rel=1e-6)
    assert entropy.item() == pytest.approx(-(0.1 * math.log(0.1) + 0.2 * math.log(0.2) + 0.7 * math.log(0.7)), rel=1e-6)


def test_mle_loss_only_on_response_tokens():
    logits = torch.log(t([[[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]]]))
    targets = torch.tensor([[0, 0, 1]])
    mask = t([[0, 1, 1]])  # the first position is prompt
    expected = -(math.log(0.9) + math.log(0.8)) / 2
    assert alg.mle_loss(logits, targets, mask).item() == pytest.approx(expected, rel=1e-6)


def test_every_variant_selectable_by_name():
    assert set(alg.ADVANTAGE_ESTIMATORS) == {"grpo", "dr_grpo", "rloo", "scst"} and alg.NEEDS_GREEDY <= set(alg.ADVANTAGE_ESTIMATORS)
    assert set(alg.KL_ESTIMATORS) == {"k1", "k2", "k3"}
    assert set(alg.LOSS_AGGREGATIONS) == {"token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"}
    logp = torch.zeros(2, 3)
    for agg in alg.LOSS_AGGREGATIONS:
        for kl in alg.KL_ESTIMATORS:
            loss, _ = alg.grpo_loss(logp, logp, t([1.0, -1.0]), torch.ones(2, 3), ref_logprobs=logp - 0.1,
                                    kl_coef=0.01, kl_estimator=kl, aggregation=agg, norm_tokens=8)
            assert torch.isfinite(loss)


def test_restrict_logits_to_an_id_range_at_trained_positions():
    from learner.algorithms import restrict_logits

    logits = torch.zeros(2, 2, 4)
    mask = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    out = restrict_logits(logits, torch.tensor([[0, 2], [1, 4]]), mask)
    low = torch.finfo(torch.float32).min
    assert out[0, 0].tolist() == [0, 0, 0, 0]  # an untrained position (prompt / given token) is untouched
    assert out[0, 1].tolist() == [0, 0, low, low] and out[1, 0].tolist() == [low, 0, 0, 0]
    # over the 2 (resp. 3) allowed ids the distribution is uniform, and entropy stays finite
    assert torch.log_softmax(out, -1)[0, 1, 0].item() == pytest.approx(math.log(0.5))
    assert torch.log_softmax(out, -1)[1, 1, 3].item() == pytest.approx(math.log(1 / 3))
    entropy = alg.token_logprobs_and_entropy(out, torch.ones(2, 2, dtype=torch.long), with_entropy=True)[1]
    assert entropy[1, 1].item() == pytest.approx(math.log(3))


def test_truncated_importance_weights_hand_computed():
    old = torch.log(t([[0.5, 0.2, 0.9]]))
    behaviour = torch.log(t([[0.25, 0.4, 0.1]]))  # ratios 2.0, 0.5, 9.0
    torch.testing.assert_close(alg.truncated_importance_weights(old, behaviour, cap=3.0), t([[2.0, 0.5, 3.0]]))


def test_tis_weights_each_tokens_policy_loss():
    # ratio pi/pi_old = 1 everywhere, advantage 1: each token's clipped loss is -1; TIS weights 2.0 and 0.5
    logp = torch.log(t([[0.5, 0.2]]))
    behaviour = torch.log(t([[0.25, 0.4]]))
    mask = t([[1.0, 1.0]])
    loss, m = alg.grpo_loss(logp, logp.clone(), t([1.0]), mask, behaviour_logprobs=behaviour, tis_cap=10.0)
    torch.testing.assert_close(loss, torch.tensor((-2.0 - 0.5) / 2))
    torch.testing.assert_close(m["tis_weight"], torch.tensor(1.25))
    plain, _ = alg.grpo_loss(logp, logp.clone(), t([1.0]), mask)
    torch.testing.assert_close(plain, torch.tensor(-1.0))
    with pytest.raises(ValueError, match="behaviour_logprobs"):
        alg.grpo_loss(logp, logp, t([1.0]), mask, tis_cap=2.0)
