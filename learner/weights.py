"""Weights on the wire, learner -> rollout workers, in two transports.

- Object store: `to_buckets` packs named tensors into safetensors byte strings of at most about
  `bucket_bytes` each (a tensor larger than that travels alone), so a model is never one giant
  object; the receiver deserialises them one at a time with `safetensors.torch.load`.
- Collective: `WeightGroup` is a torch.distributed process group of its own (gloo on CPU, NCCL on
  GPU; independent of the learner's DeepSpeed group) between learner rank 0 (its rank 0, the sender)
  and every rollout worker. `plan_buckets` lays the tensors out as flat same-dtype buckets; rank 0
  broadcasts each bucket as one buffer and the receivers cut it back into named tensors.

Tensors that share storage (tied embeddings) are sent once, under their first name.
"""

from __future__ import annotations

import datetime
import os
import socket
from typing import Iterable, Iterator

import torch
from safetensors.torch import save

# A bucket layout: per bucket, the (name, shape, dtype) of its tensors in order. Plain tuples, so the
# layout pickles anywhere (Ray calls, vLLM's collective_rpc).
Layout = list[list[tuple[str, tuple[int, ...], str]]]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


NODE_ADDRESS_ENV = "RLVR_NODE_ADDRESS"


def node_address() -> str:
    """The address this node's collectives bind to and are reached at: $RLVR_NODE_ADDRESS when set (a
    local run sets 127.0.0.1, services/cluster.py: Ray reports the host's interface address even for a
    cluster started on 127.0.0.1), else this Ray node's address as the cluster knows it
    (`ray.util.get_node_ip_address()` would guess one from the routing table instead)."""
    if os.environ.get(NODE_ADDRESS_ENV):
        return os.environ[NODE_ADDRESS_ENV]
    import ray

    node_id = ray.get_runtime_context().get_node_id()
    return next(n["NodeManagerAddress"] for n in ray.nodes() if n["NodeID"] == node_id)


def bound_store(host: str, port: int, rank: int, world_size: int, timeout_s: float = 300.0):
    """A torch.distributed TCPStore hosted by rank 0 at host:port and listening there only (TCPStore
    alone would listen on every interface: rank 0 hands it a socket bound to `host`)."""
    import torch.distributed as dist

    listen = {}
    if rank == 0:
        with socket.socket() as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            listener.listen(128)
            listen["master_listen_fd"] = listener.detach()  # the store owns (and closes) it
    return dist.TCPStore(host, port, world_size, is_master=rank == 0, timeout=datetime.timedelta(seconds=timeout_s), **listen)


def bind_collectives_to(address: str) -> None:
    """Make gloo and NCCL, in groups this process creates from now on, bind their sockets to the network
    interface that holds `address` (this node's address) instead of the one the hostname resolves to.
    A user's own GLOO_SOCKET_IFNAME / NCCL_SOCKET_IFNAME wins."""
    import psutil

    for name, addresses in psutil.net_if_addrs().items():
        if any(a.family == socket.AF_INET and a.address == address for a in addresses):
            os.environ.setdefault("GLOO_SOCKET_IFNAME", name)
            os.environ.setdefault("NCCL_SOCKET_IFNAME", name)
            return


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
