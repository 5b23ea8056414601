"""Weights on the wire: named tensors packed into size-bounded safetensors buckets.

A model is never one giant object: `to_buckets` yields safetensors-serialised byte strings of at
most ~`bucket_bytes` each (a tensor larger than that travels alone); the receiver deserialises them
one at a time with `safetensors.torch.load`. Tensors that share storage (tied embeddings) are sent
once, under their first name.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import torch
from safetensors.torch import save


def to_buckets(named_tensors: Iterable[tuple[str, torch.Tensor]], bucket_bytes: int) -> Iterator[bytes]:
    """Serialise (name, tensor) pairs into buckets of about `bucket_bytes` each."""
    seen: set[tuple] = set()
    bucket: dict[str, torch.Tensor] = {}
    size = 0
    for name, tensor in named_tensors:
        key = (tensor.data_ptr(), tuple(tensor.shape))  # not the storage: ZeRO views params into one flat buffer
        if key in seen:
            continue
        seen.add(key)
        nbytes = tensor.numel() * tensor.element_size()
        if bucket and size + nbytes > bucket_bytes:
            yield save(bucket)
            bucket, size = {}, 0
        bucket[name] = tensor.detach().to("cpu").contiguous()
        size += nbytes
    if bucket:
        yield save(bucket)
