"""Addresses and sockets of the collectives the roles open (learner ranks, weight broadcast).

Every socket is bound to a node address, never to all interfaces: a local run sets
$RLVR_NODE_ADDRESS=127.0.0.1 (core/cluster.py); on a cluster it is the Ray node's own address.
"""

from __future__ import annotations

import datetime
import os
import socket

NODE_ADDRESS_ENV = "RLVR_NODE_ADDRESS"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def node_address() -> str:
    """The address this node's collectives bind to and are reached at: $RLVR_NODE_ADDRESS when set (a
    local run sets 127.0.0.1: Ray reports the host's interface address even for a cluster started on
    127.0.0.1), else this Ray node's address as the cluster knows it (`ray.util.get_node_ip_address()`
    would guess one from the routing table instead)."""
    if os.environ.get(NODE_ADDRESS_ENV):
        return os.environ[NODE_ADDRESS_ENV]
    import ray

    node_id = ray.get_runtime_context().get_node_id()
    return next(n["NodeManagerAddress"] for n in ray.nodes() if n["NodeID"] == node_id)


def bound_store(host: str, port: int, rank: int, world_size: int, timeout_s: float = 300.0):
    """A torch.distributed TCPStore hosted by rank 0 at host:port and listening there only (TCPStore
    alone would listen on every interface: rank 0 hands it a socket bound to `host`). Members that do
    not all arrive within `timeout_s` fail with torch's timeout error."""
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
