"""vLLM worker extension that loads weights sent as safetensors buckets (see learner/weights.py).

vLLM mixes this class into its worker; the rollout worker calls its methods with
`llm.collective_rpc(...)`. Buckets are staged as bytes, then `commit_weights` reloads them all in
place through vLLM's `reload_weights`, one bucket deserialised at a time.
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
        count = 0

        def weights():
            nonlocal count
            for data in buckets:
                for name, tensor in load(data).items():
                    count += 1
                    yield name, tensor

        self.reload_weights(weights_iterator=weights())
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
