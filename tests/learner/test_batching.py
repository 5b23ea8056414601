"""Padding Samples for the learner: masks cover exactly the response-predicting positions."""

import torch

from core.protocol import Sample
from learner.batching import chunks, pad_batch, padding_fraction, response_values, token_budget_batches


def test_pad_batch_masks_and_values():
    samples = [Sample([1, 5, 6], [7, 8]), Sample([1, 9], [3])]
    b = pad_batch(samples, {"old_logprobs": [[-0.1, -0.2], [-0.3]]}, advantages=[1.5, -1.0])
    assert b["input_ids"].tolist() == [[1, 5, 6, 7, 8], [1, 9, 3, 0, 0]]
    assert b["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    # position t predicts token t+1: rows predict [5,6,7,8] and [9,3,0,0]; the response is 7,8 / 3
    assert b["targets"].tolist() == [[5, 6, 7, 8], [9, 3, 0, 0]]
    assert b["mask"].tolist() == [[0, 0, 1, 1], [0, 1, 0, 0]]
    torch.testing.assert_close(b["old_logprobs"], torch.tensor([[0, 0, -0.1, -0.2], [0, -0.3, 0, 0]]))
    assert b["advantages"].tolist() == [1.5, -1.0]
    assert response_values(torch.tensor([0.0, 0.0, 0.5, 0.25]), samples[0]) == [0.5, 0.25]


def test_chunks():
    assert chunks(list(range(5)), 2) == [[0, 1], [2, 3], [4]]


def test_loss_mask_excludes_given_tokens():
    # an interactive rollout: generated 7, given 8 (an action), generated 9
    sample = Sample([1, 5], [7, 8, 9], loss_mask=[1, 0, 1])
    b = pad_batch([sample, Sample([1, 5], [7])])
    assert b["targets"].tolist() == [[5, 7, 8, 9], [5, 7, 0, 0]]
    assert b["mask"].tolist() == [[0, 1, 0, 1], [0, 1, 0, 0]]
    assert sample.trained_tokens == 2 and Sample([1], [4, 4]).trained_tokens == 2


def test_allowed_ranges_travel_with_the_batch():
    b = pad_batch([Sample([1], [2], allowed=(0, 10)), Sample([1], [3])])
    assert b["allowed"].tolist() == [[0, 10], [0, 2**62]]  # a sample without a range may use every id
    assert "allowed" not in pad_batch([Sample([1], [2])])


def test_token_budget_batches_pack_similar_lengths_under_the_budget():
    lengths = [10, 3, 9, 4, 2, 30]  # total tokens per sample
    samples = [Sample([1], [2] * (n - 1)) for n in lengths]
    batches = token_budget_batches(samples, max_tokens=20)
    # longest first: 30 alone (over the budget), then 10+9 (2 x 10 = 20), then 4+3+2 (3 x 4 = 12)
    assert batches == [[5], [0, 2], [3, 1, 4]]
    assert sorted(i for b in batches for i in b) == list(range(6))
    # padding: slots 30 + 2*10 + 3*4 = 62 hold 58 tokens
    assert abs(padding_fraction(samples, batches) - (1 - 58 / 62)) < 1e-12
    # in arrival order, 3 per pass, the same samples pad to 3*10 + 3*30 = 120 slots
    assert abs(padding_fraction(samples, [[0, 1, 2], [3, 4, 5]]) - (1 - 58 / 120)) < 1e-12


def test_rollout_logprobs_are_padded_like_the_others():
    b = pad_batch([Sample([1, 2], [3], rollout_logprobs=[-0.5])])
    assert b["rollout_logprobs"].tolist() == [[0.0, -0.5]]
