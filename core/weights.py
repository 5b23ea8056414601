"""The weight-sync protocol shared by the learner (sender) and the rollout workers (receivers).

Weights on the wire, learner -> rollout workers, in two transports:

- Object store: `to_buckets` packs named tensors into safetensors byte strings of at most about
  `bucket_bytes` each (a tensor larger than that travels alone), so a model is never one giant
  object; the receiver deserialises them one at a time with `safetensors.torch.load`.
- Collective: `WeightGroup` is a torch.distributed process group of its own (gloo on CPU, NCCL on
  GPU; independent of the learner's DeepSpeed group) between learner rank 0 (its rank 0, the sender)
  and every rollout worker. `plan_buckets` lays the tensors out as flat same-dtype buckets; rank 0
  broadcasts each bucket as one buffer and the receivers cut it back into named tensors.

Tensors that share storage (tied embeddings) are sent once, under their first name. A saved model
folder (an exported stage, for evaluation) is read tensor by tensor with `folder_tensors`.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Iterable, Iterator

import torch
from safetensors.torch import save

# A bucket layout: per bucket, the (name, shape, dtype) of its tensors in order. Plain tuples, so the
# layout pickles anywhere (Ray calls, vLLM's collective_rpc).
Layout = list[list[tuple[str, tuple[int, ...], str]]]


def unique_named_tensors(named_tensors: Iterable[tuple[str, torch.Tensor]]) -> Iterator[tuple[str, torch.Tensor]]:
    """The (name, tensor) pairs with tensors that alias an earlier one (tied weights) left out."""
    seen: set[tuple] = set()
    for name, tensor in named_tensors:
        key = (tensor.data_ptr(), tuple(tensor.shape))  # not the storage: ZeRO views params into one flat buffer
        if key not in seen:
            seen.add(key)
            yield name, tensor


def to_buckets(named_tensors: Iterable[tuple[str, torch.Tensor]], bucket_bytes: int) -> Iterator[bytes]:
    """Serialise (name, tensor) pairs into safetensors buckets of about `bucket_bytes` each."""
    bucket: dict[str, torch.Tensor] = {}
    size = 0
    for name, tensor in unique_named_tensors(named_tensors):
        nbytes = tensor.numel() * tensor.element_size()
        if bucket and size + nbytes > bucket_bytes:
            yield save(bucket)
            bucket, size = {}, 0
        bucket[name] = tensor.detach().to("cpu").contiguous()
        size += nbytes
    if bucket:
        yield save(bucket)


def plan_buckets(named_tensors: Iterable[tuple[str, torch.Tensor]], bucket_bytes: int) -> Layout:
    """The collective layout: consecutive tensors of one dtype per bucket, about `bucket_bytes` each."""
    layout: Layout = []
    size, dtype = 0, None
    for name, tensor in unique_named_tensors(named_tensors):
        nbytes = tensor.numel() * tensor.element_size()
        if not layout or size + nbytes > bucket_bytes or tensor.dtype != dtype:
            layout.append([])
            size, dtype = 0, tensor.dtype
        layout[-1].append((name, tuple(tensor.shape), str(tensor.dtype).removeprefix("torch.")))
        size += nbytes
    return layout


def unpack(flat: torch.Tensor, specs: list[tuple[str, tuple[int, ...], str]]) -> list[tuple[str, torch.Tensor]]:
    """Cut one received bucket buffer back into its named tensors (views of the buffer)."""
    out, offset = [], 0
    for name, shape, _ in specs:
        count = int(torch.Size(shape).numel())
        out.append((name, flat[offset : offset + count].view(shape)))
        offset += count
    return out


class WeightGroup:
    """One member of the weight-broadcast group: rank 0 sends, every other rank receives.

    Built from a TCPStore that rank 0 hosts at host:port; every member must construct it at about the
    same time (construction blocks until all `world_size` members have joined, up to `timeout_s`).
    Every socket it opens is bound to an address given here, never to all interfaces: the store to
    `host`, each member's gloo connections to `own_host` (its node's address; default `host`).
    """

    def __init__(self, host: str, port: int, rank: int, world_size: int, backend: str, own_host: str | None = None, timeout_s: float = 300.0):
        import torch.distributed as dist

        from core.net import bound_store

        timeout = datetime.timedelta(seconds=timeout_s)
        self.rank = rank
        self.device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
        self._store = bound_store(host, port, rank, world_size, timeout_s)
        store = dist.PrefixStore("rlvr_weights", self._store)  # rank 0 hosts the store as long as the group lives
        if backend == "gloo":
            options = dist.ProcessGroupGloo._Options()
            options._devices = [dist.ProcessGroupGloo.create_device(hostname=own_host or host)]
            options._timeout = timeout
            self.group = dist.ProcessGroupGloo(store, rank, world_size, options)
        elif backend == "nccl":
            self.group = dist.ProcessGroupNCCL(store, rank, world_size, dist.ProcessGroupNCCL.Options())
        else:
            raise ValueError(f"unknown weight-group backend {backend!r} (gloo or nccl)")

    def send(self, named_tensors: dict[str, torch.Tensor], layout: Layout) -> int:
        """Rank 0: broadcast every bucket of `layout`; returns the bytes sent."""
        sent = 0
        for specs in layout:
            flat = torch.cat([named_tensors[name].detach().reshape(-1) for name, _, _ in specs]).to(self.device)
            self.group.broadcast(flat, 0).wait()
            sent += flat.numel() * flat.element_size()
        return sent

    def receive(self, layout: Layout) -> Iterator[tuple[str, torch.Tensor]]:
        """Other ranks: the named tensors of each bucket as it arrives (one bucket in memory at a time)."""
        for specs in layout:
            count = sum(int(torch.Size(shape).numel()) for _, shape, _ in specs)
            flat = torch.empty(count, dtype=getattr(torch, specs[0][2]), device=self.device)
            self.group.broadcast(flat, 0).wait()
            yield from unpack(flat, specs)


def folder_tensors(path: str | Path) -> Iterator[tuple[str, torch.Tensor]]:
    """The (name, tensor) pairs of a Hugging Face model folder's safetensors files, one file open at a time."""
    from safetensors import safe_open

    files = sorted(Path(path).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors weights in the model folder {path}")
    for file in files:
        with safe_open(str(file), framework="pt") as f:
            for name in f.keys():
                yield name, f.get_tensor(name)
