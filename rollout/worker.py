"""A rollout worker: one vLLM engine in a Ray actor, generating groups from token-id prompts.

`generate` returns, per prompt, the G sampled responses with their token ids, the log-probs vLLM
sampled them with (after temperature, the same distribution the learner recomputes), finish
reasons, and the weights version used. `load_weights` swaps in new weights in place (versioned).

With a plan per prompt ({"generate": k, "append": [ids, ...]}, see worlds.registry.Plan) generation
is interactive and domain-free: generate exactly k tokens, append the next given ids, generate k
more, ... (sampling only ids in the plan's `allowed` range [lo, hi) when it has one). Each response
then carries a `mask` (1 = generated, 0 = given; given tokens get log-prob 0). A model folder
without a text tokenizer is served from token ids alone.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

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
        self.has_tokenizer = (Path(model_path) / "tokenizer_config.json").exists()  # token-id models (video) have none
        self.llm = LLM(
            model=model_path,
            dtype=cfg.dtype,
            max_model_len=cfg.max_model_len,
            enforce_eager=True,
            seed=seed,
            logprobs_mode="processed_logprobs",
            skip_tokenizer_init=not self.has_tokenizer,
            worker_extension_cls="rollout.weight_receiver.WeightReceiver",
        )

    def _params(self, n: int, sampling: dict | None, **fixed):
        from vllm import SamplingParams

        s = self.cfg.sampling.model_copy(update=sampling or {})
        options = dict(n=n, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k, max_tokens=s.max_new_tokens, logprobs=0)
        return SamplingParams(**{**options, **fixed}, detokenize=self.has_tokenizer)

    @staticmethod
    def _sampled_logprobs(completion) -> list[float]:
        return [step[token].logprob for step, token in zip(completion.logprobs, completion.token_ids)]

    def generate(self, prompts: list[list[int]], n: int, sampling: dict | None = None, plans: list[dict] | None = None) -> list[dict]:
        """G = n samples for each token-id prompt (interactively when plans are given); each group also
        carries the weights version and the seconds this worker's call took."""
        start = time.perf_counter()
        groups = self._generate_planned(prompts, n, sampling, plans) if plans is not None else self._generate(prompts, n, sampling)
        for g in groups:
            g.update(version=self.version, seconds=time.perf_counter() - start)
        return groups

    def _generate(self, prompts: list[list[int]], n: int, sampling: dict | None) -> list[dict]:
        from vllm.inputs import TokensPrompt

        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], self._params(n, sampling), use_tqdm=False)
        groups = []
        for prompt, out in zip(prompts, outputs):
            responses = [
                {"response_ids": list(o.token_ids), "logprobs": self._sampled_logprobs(o), "finish_reason": o.finish_reason}
                for o in out.outputs
            ]
            groups.append({"prompt_ids": list(prompt), "responses": responses})
        return groups

    def _generate_planned(self, prompts: list[list[int]], n: int, sampling: dict | None, plans: list[dict]) -> list[dict]:
        """Rounds of fixed-length generation: round r extends every live sample by the plan's r-th given
        ids (r > 0) and `generate` sampled tokens; all samples of all prompts go to the engine at once."""
        from vllm.inputs import TokensPrompt

        responses = [[{"response_ids": [], "logprobs": [], "mask": [], "finish_reason": "length"} for _ in range(n)] for _ in prompts]
        for r in range(max(len(p["append"]) for p in plans) + 1):
            live = [(i, j) for i, plan in enumerate(plans) if r <= len(plan["append"]) for j in range(n)]
            requests, params, cache = [], [], {}
            for i, j in live:
                resp, plan = responses[i][j], plans[i]
                if r > 0:
                    given = list(plan["append"][r - 1])
                    resp["response_ids"] += given
                    resp["logprobs"] += [0.0] * len(given)
                    resp["mask"] += [0] * len(given)
                requests.append(TokensPrompt(prompt_token_ids=list(prompts[i]) + resp["response_ids"]))
                # a segment has a fixed length: the model's end-of-sequence token does not end it
                key = (plan["generate"], tuple(plan.get("allowed") or ()))
                if key not in cache:
                    allowed = {"allowed_token_ids": list(range(*key[1]))} if key[1] else {}
                    cache[key] = self._params(1, sampling, max_tokens=key[0], ignore_eos=True, **allowed)
                params.append(cache[key])
            for (i, j), out in zip(live, self.llm.generate(requests, params, use_tqdm=False)):
                completion = out.outputs[0]
                resp = responses[i][j]
                resp["response_ids"] += list(completion.token_ids)
                resp["logprobs"] += self._sampled_logprobs(completion)
                resp["mask"] += [1] * len(completion.token_ids)
        return [{"prompt_ids": list(p), "responses": group} for p, group in zip(prompts, responses)]

    def load_weights(self, version: int, bucket_refs: list) -> dict:
        """Fetch the buckets from the object store one by one, reload in place, clear the prefix cache."""
        start = time.perf_counter()
        for ref in bucket_refs:
            self.llm.collective_rpc("stage_weight_bucket", args=(ray.get(ref),))
        return self._loaded(version, self.llm.collective_rpc("commit_weights")[0], start)

    def join_weight_group(self, host: str, port: int, rank: int, world_size: int, backend: str) -> None:
        """Join the weight-broadcast group as receiver `rank` (blocks until every member joined)."""
        from learner.weights import node_address

        self.llm.collective_rpc("join_weight_group", args=(host, port, rank, world_size, backend, node_address()))

    def receive_weights(self, version: int, layout) -> dict:
        """Receive the weights learner rank 0 broadcasts now, reload in place, clear the prefix cache."""
        start = time.perf_counter()
        return self._loaded(version, self.llm.collective_rpc("receive_weights", args=(layout,))[0], start)

    def _loaded(self, version: int, tensors: int, start: float) -> dict:
        self.llm.reset_prefix_cache()
        self.version = version
        return {"version": version, "tensors": tensors, "seconds": time.perf_counter() - start}

    def get_version(self) -> int:
        return self.version
