"""Weight buckets: bounded size, tied tensors sent once, round trip exact."""

import torch
from safetensors.torch import load

from learner.weights import to_buckets


def test_buckets_are_bounded_and_round_trip():
    emb = torch.randn(100, 16)
    named = [("embed.weight", emb), ("lm_head.weight", emb)]  # tied: the same tensor twice
    named += [(f"layer{i}.weight", torch.randn(64, 16)) for i in range(10)]
    buckets = list(to_buckets(named, bucket_bytes=10_000))
    assert len(buckets) > 3
    got = {}
    for b in buckets:
        part = load(b)
        assert sum(t.numel() * t.element_size() for t in part.values()) <= 10_000 or len(part) == 1
        got.update(part)
    assert "lm_head.weight" not in got and torch.equal(got["embed.weight"], emb)
    assert all(torch.equal(got[n], t) for n, t in named if n != "lm_head.weight")


def test_views_of_one_flat_buffer_are_all_sent():
    flat = torch.arange(12.0)  # ZeRO keeps parameters as views into one flat buffer
    named = [("a", flat[:6].view(2, 3)), ("b", flat[6:].view(3, 2))]
    got = {}
    for b in to_buckets(named, bucket_bytes=1 << 20):
        got.update(load(b))
    assert set(got) == {"a", "b"} and torch.equal(got["b"], flat[6:].view(3, 2))
