"""vLLM worker extension that loads new weights in place, from either transport (core/weights.py).

vLLM mixes this class into its worker; the rollout worker calls its methods with
`llm.collective_rpc(...)`. Object store: buckets are staged as bytes, then `commit_weights` reloads
them all through vLLM's `reload_weights`, one bucket deserialised at a time. Collective: the worker
joins the weight-broadcast group once (`join_weight_group`), then `receive_weights` reloads the
tensors bucket by bucket as learner rank 0 broadcasts them.
"""

from __future__ import annotations


class WeightReceiver:
    def stage_weight_bucket(self, data: bytes) -> int:
        if not hasattr(self, "_staged_buckets"):
            self._staged_buckets = []
        self._staged_buckets.append(data)
        return len(self._staged_buckets)

    def commit_weights(self) -> int:
        from safetensors.torch import load

        buckets, self._staged_buckets = getattr(self, "_staged_buckets", []), []
        return self._reload(item for data in buckets for item in load(data).items())

    def join_weight_group(self, host: str, port: int, rank: int, world_size: int, backend: str, own_host: str, timeout_s: float) -> None:
        from core.weights import WeightGroup

        self._weight_group = None  # a group being replaced (the pool changed) is dropped first
        self._weight_group = WeightGroup(host, port, rank, world_size, backend, own_host=own_host, timeout_s=timeout_s)

    def receive_weights(self, layout) -> int:
        return self._reload(self._weight_group.receive(layout))

    def _reload(self, named_tensors) -> int:
        """Reload the weights in place from an iterator of (name, tensor), consumed one at a time; returns the count."""
        count = 0

        def counted():
            nonlocal count
            for item in named_tensors:
                count += 1
                yield item

        self.reload_weights(weights_iterator=counted())
        self._refresh_tied_lm_head()
        return count

    def _refresh_tied_lm_head(self) -> None:
        """A tied LM head is not in the checkpoint, so the reload never re-processes it; on CPU its
        GEMM kernel keeps a packed copy of the OLD embedding. Rebuild it from the new weights."""
        model = self.model_runner.model
        lm_head = getattr(model, "lm_head", None)
        tied = getattr(self.model_runner.model_config.hf_config, "tie_word_embeddings", False)
        if tied and lm_head is not None and hasattr(lm_head, "quant_method"):
            lm_head.quant_method.process_weights_after_loading(lm_head)
