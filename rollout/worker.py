"""A rollout worker: one vLLM engine in a Ray actor, generating groups from token-id prompts.

`generate` returns, per prompt, the G sampled responses with their token ids, the log-probs vLLM
sampled them with (after temperature, the same distribution the learner recomputes), finish
reasons, and the weights version used. `load_weights` swaps in new weights in place (versioned).
With a seed per prompt the samples are a function of (weights, prompt, seed) alone, whichever worker
draws them and whatever it did before: a prompt re-generated after a worker died, or after a resume,
gets the same samples. A fatal engine error ends the actor's process (vLLM's engine would otherwise
stay dead inside a live actor), so the pool sees a dead worker and replaces it.

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

SEED_STRIDE = 1 << 12  # vLLM gives the n samples of a seeded prompt the seeds s, s + 1, ..., s + n - 1


def exit_if_engine_dead(err: BaseException) -> None:
    """vLLM reports a dead engine with EngineDeadError and leaves the process up: exit, so Ray (and the
    pool, which replaces the worker) sees the death."""
    from vllm.v1.engine.exceptions import EngineDeadError

    if isinstance(err, EngineDeadError):
        print(f"rollout worker: the vLLM engine died ({err}); exiting so the worker is replaced", flush=True)
        os._exit(1)


def whole_prefills_on_cpu(max_model_len: int) -> dict:
    """Engine options that keep vLLM on CPU from splitting a prompt's prefill over engine steps.

    A split prefill's sampled token is thrown away, and vLLM then rewinds the request's seeded
    generator by an offset, which CPU generators do not have: with per-prompt seeds (ours) the engine
    fails ("CPU Generator does not use offset") as soon as one step's prompts exceed its token
    budget. Whole prefills avoid that; the budget must then hold the longest prompt. GPUs are unaffected."""
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return {}
    return {"enable_chunked_prefill": False, "max_num_batched_tokens": max(4096, max_model_len)}


class RolloutWorker:
    def __init__(self, model_path: str, config: dict, seed: int = 0):
        from services.cluster import redirect_worker_output

        redirect_worker_output()  # vLLM's output to the run's logs/ (run.worker_logs)
        cfg = RolloutConfig.model_validate(config)
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process engine: fast start, no orphans
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, round(cfg.kv_cache_gib))))
        import platform_compat

        platform_compat.apply()
        from vllm import LLM

        from learner.weights import bind_collectives_to, node_address

        bind_collectives_to(node_address())  # the engine's own (world size 1) gloo group listens on this node's address only

        self.cfg = cfg
        self.version = 0
        self.has_tokenizer = (Path(model_path) / "tokenizer_config.json").exists()  # token-id models (video) have none
        self.llm = LLM(
            model=model_path,
            dtype=cfg.dtype,
            max_model_len=cfg.max_model_len,
            enforce_eager=True,
            seed=seed,
            **whole_prefills_on_cpu(cfg.max_model_len),
            logprobs_mode="processed_logprobs",
            skip_tokenizer_init=not self.has_tokenizer,
            worker_extension_cls="rollout.weight_receiver.WeightReceiver",
        )

    def _params(self, n: int, sampling: dict | None, seed: int | None = None, **fixed):
        from vllm import SamplingParams

        s = self.cfg.sampling.model_copy(update=sampling or {})
        options = dict(n=n, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k, max_tokens=s.max_new_tokens, logprobs=0, seed=seed)
        return SamplingParams(**{**options, **fixed}, detokenize=self.has_tokenizer)

    def ready(self) -> int:
        """The worker's process id, once its engine is up."""
        return os.getpid()

    @staticmethod
    def _sampled_logprobs(completion) -> list[float]:
        return [step[token].logprob for step, token in zip(completion.logprobs, completion.token_ids)]

    def generate(self, prompts: list[list[int]], n: int, sampling: dict | None = None, plans: list[dict] | None = None,
                 seeds: list[int] | None = None) -> list[dict]:
        """G = n samples for each token-id prompt (interactively when plans are given), seeded per prompt
        when `seeds` are given; each group also carries the weights version and the seconds this call took."""
        start = time.perf_counter()
        seeds = seeds if seeds is not None else [None] * len(prompts)
        try:
            groups = self._generate_planned(prompts, n, sampling, plans, seeds) if plans is not None else self._generate(prompts, n, sampling, seeds)
        except Exception as err:
            exit_if_engine_dead(err)
            raise
        for g in groups:
            g.update(version=self.version, seconds=time.perf_counter() - start)
        return groups

    def _generate(self, prompts: list[list[int]], n: int, sampling: dict | None, seeds: list) -> list[dict]:
        from vllm.inputs import TokensPrompt

        params = [self._params(n, sampling, seed) for seed in seeds]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], params, use_tqdm=False)
        groups = []
        for prompt, out in zip(prompts, outputs):
            responses = [
                {"response_ids": list(o.token_ids), "logprobs": self._sampled_logprobs(o), "finish_reason": o.finish_reason}
                for o in out.outputs
            ]
            groups.append({"prompt_ids": list(prompt), "responses": responses})
        return groups

    def _generate_planned(self, prompts: list[list[int]], n: int, sampling: dict | None, plans: list[dict], seeds: list) -> list[dict]:
        """Rounds of fixed-length generation: round r extends every live sample by the plan's r-th given
        ids (r > 0) and `generate` sampled tokens; all samples of all prompts go to the engine at once
        (sample j of a seeded prompt draws round r with seed + j + r * SEED_STRIDE)."""
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
                seed = None if seeds[i] is None else seeds[i] + j + r * SEED_STRIDE
                key = (plan["generate"], tuple(plan.get("allowed") or ()), seed)
                if key not in cache:
                    allowed = {"allowed_token_ids": list(range(*key[1]))} if key[1] else {}
                    cache[key] = self._params(1, sampling, seed, max_tokens=key[0], ignore_eos=True, **allowed)
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
