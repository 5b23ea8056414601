"""A rollout worker: one vLLM engine in a Ray actor, generating groups from token-id prompts.

`generate` returns, per prompt, the G sampled responses with their token ids, the log-probs vLLM
sampled them with (after temperature, the same distribution the learner recomputes), finish
reasons, and the weights version used. `load_weights` swaps in new weights in place (versioned).
"""

from __future__ import annotations

import os
import time

import ray

from rollout.config import RolloutConfig


class RolloutWorker:
    def __init__(self, model_path: str, config: dict, seed: int = 0):
        cfg = RolloutConfig.model_validate(config)
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process engine: fast start, no orphans
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, round(cfg.kv_cache_gib))))
        import platform_compat

        platform_compat.apply()
        from vllm import LLM

        self.cfg = cfg
        self.version = 0
        self.llm = LLM(
            model=model_path,
            dtype=cfg.dtype,
            max_model_len=cfg.max_model_len,
            enforce_eager=True,
            seed=seed,
            logprobs_mode="processed_logprobs",
            worker_extension_cls="rollout.weight_receiver.WeightReceiver",
        )

    def generate(self, prompts: list[list[int]], n: int, sampling: dict | None = None) -> list[dict]:
        """G = n samples for each token-id prompt."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        s = self.cfg.sampling.model_copy(update=sampling or {})
        params = SamplingParams(
            n=n, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k, max_tokens=s.max_new_tokens, logprobs=0
        )
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], params, use_tqdm=False)
        groups = []
        for prompt, out in zip(prompts, outputs):
            responses = [
                {
                    "response_ids": list(o.token_ids),
                    "logprobs": [step[token].logprob for step, token in zip(o.logprobs, o.token_ids)],
                    "finish_reason": o.finish_reason,
                }
                for o in out.outputs
            ]
            groups.append({"prompt_ids": list(prompt), "responses": responses, "version": self.version})
        return groups

    def load_weights(self, version: int, bucket_refs: list) -> dict:
        """Fetch the buckets from the object store one by one, reload in place, clear the prefix cache."""
        start = time.perf_counter()
        for ref in bucket_refs:
            self.llm.collective_rpc("stage_weight_bucket", args=(ray.get(ref),))
        tensors = self.llm.collective_rpc("commit_weights")[0]
        self.llm.reset_prefix_cache()
        self.version = version
        return {"version": version, "tensors": tensors, "seconds": time.perf_counter() - start}

    def get_version(self) -> int:
        return self.version
