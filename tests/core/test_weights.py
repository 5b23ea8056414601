"""Weight buckets: bounded size, tied tensors sent once, round trip exact."""

import torch
from safetensors.torch import load

import threading

import psutil

from core.net import free_port
from core.weights import WeightGroup, plan_buckets, to_buckets, unpack


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


def test_collective_layout_groups_one_dtype_per_bounded_bucket():
    emb = torch.randn(100, 16)
    named = [("embed", emb), ("head", emb), ("a", torch.randn(64, 16)), ("b", torch.randn(8).to(torch.bfloat16)), ("c", torch.randn(4, 4))]
    layout = plan_buckets(named, bucket_bytes=8_000)
    # embed (6,400 B) fills a bucket, a (4,096 B) starts the next, the dtype change starts b's and c's
    assert layout == [[("embed", (100, 16), "float32")], [("a", (64, 16), "float32")], [("b", (8,), "bfloat16")], [("c", (4, 4), "float32")]]
    flat = torch.cat([named[2][1].reshape(-1)])
    assert torch.equal(unpack(flat, layout[1])[0][1], named[2][1])


def listening() -> set[tuple[str, int]]:
    return {tuple(c.laddr) for c in psutil.Process().net_connections("tcp") if c.status == psutil.CONN_LISTEN}


def test_weight_group_broadcasts_every_bucket_over_gloo():
    named = {"x": torch.randn(3, 5), "y": torch.arange(7.0), "z": torch.randn(2, 2).to(torch.bfloat16)}
    layout = plan_buckets(named.items(), bucket_bytes=64)
    port, received, errors = free_port(), {}, []
    before = listening()

    def receiver():
        try:
            received.update(WeightGroup("127.0.0.1", port, 1, 2, "gloo", timeout_s=60).receive(layout))
        except Exception as err:  # surfaced below
            errors.append(err)

    thread = threading.Thread(target=receiver)
    thread.start()
    sender = WeightGroup("127.0.0.1", port, 0, 2, "gloo", timeout_s=60)
    sent = sender.send(named, layout)
    thread.join(timeout=60)
    assert not errors and set(received) == set(named)
    # the store and the gloo connections listen on 127.0.0.1 only, never on every interface
    opened = listening() - before
    assert ("127.0.0.1", port) in opened and all(ip == "127.0.0.1" for ip, _ in opened), opened
    assert all(torch.equal(received[k], v) for k, v in named.items())
    assert sent == sum(t.numel() * t.element_size() for t in named.values())
