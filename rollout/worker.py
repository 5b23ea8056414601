"""A rollout worker: one vLLM engine in a Ray actor, generating groups from token-id prompts.

`generate(prompts, n)` returns a Group per Prompt (core/protocol.py): the G sampled responses with their
token ids, the log-probs vLLM sampled them with (after temperature, the same distribution the learner
recomputes), finish reasons, their text (text models: decoded once, here), and the weights version used.
`load_weights` / `receive_weights` swap in new weights in place (versioned), and `prompt_logprobs` scores given responses (the post-sync check).
With a seed per prompt the samples are a function of (weights, prompt, seed) alone, whichever worker
draws them and whatever it did before: a prompt re-generated after a worker died, or after a resume,
gets the same samples. A fatal engine error ends the actor's process (vLLM's engine would otherwise
stay dead inside a live actor), so the pool sees a dead worker and replaces it.

With a Plan (core/protocol.py) generation is interactive and domain-free: generate exactly k tokens,
append the next given ids, generate k more, ... (sampling only ids in the plan's `allowed` range
[lo, hi) when it has one). Each response then carries a `mask` (1 = generated, 0 = given; given tokens
get log-prob 0). A model folder without a text tokenizer is served from token ids alone.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import ray

from core.protocol import Group, Prompt, Response
from rollout.config import RolloutConfig, SamplingConfig

log = logging.getLogger(__name__)

SEED_STRIDE = 1 << 12  # vLLM gives the n samples of a seeded prompt the seeds s, s + 1, ..., s + n - 1


def exit_if_engine_dead(err: BaseException) -> None:
    """vLLM reports a dead engine with EngineDeadError and leaves the process up: exit, so Ray (and the
    pool, which replaces the worker) sees the death."""
    from vllm.v1.engine.exceptions import EngineDeadError

    if isinstance(err, EngineDeadError):
        log.error("rollout worker: the vLLM engine died (%s); exiting so the worker is replaced", err)
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


def eager_token_ranks_on_cpu() -> None:
    """vLLM ranks each sampled token in its vocabulary row with a `torch.compile`d one-liner
    (`batched_count_greater_than`), which on CPU compiles C++ with inductor at the engine's first
    generate call: 10-17 s per engine process, cache or not, for a sum over a comparison. On CPU the
    same expression runs eagerly (the same ranks; the samples and log-probs never depend on them); GPUs
    keep vLLM's kernel."""
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return
    import vllm.v1.sample.ops.logprobs as ops
    import vllm.v1.sample.sampler as sampler

    def batched_count_greater_than(x, values):
        return (x >= values).sum(-1)

    ops.batched_count_greater_than = sampler.batched_count_greater_than = batched_count_greater_than


class RolloutWorker:
    def __init__(self, model_path: str, config: dict, seed: int = 0):
        from core.actors import redirect_worker_output

        redirect_worker_output()  # vLLM's output to the run's logs/ (run.worker_logs)
        if not (Path(model_path) / "config.json").is_file():  # before seconds of imports, and clearer than vLLM's message
            raise FileNotFoundError(f"rollout worker: no model folder (with config.json) at {model_path} on this node")
        cfg = RolloutConfig.model_validate(config)
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process engine: fast start, no orphans
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, round(cfg.kv_cache_gib))))
        import platform_compat

        platform_compat.apply()
        import torch
        from vllm import LLM

        torch.set_num_threads(cfg.threads or max(1, int(cfg.cpus)))  # before the engine (vLLM fixes it then)
        eager_token_ranks_on_cpu()

        from core.net import bind_collectives_to, node_address

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

    def _params(self, n: int, sampling: SamplingConfig | None, seed: int | None = None, **fixed):
        from vllm import SamplingParams

        s = sampling or self.cfg.sampling
        options = dict(n=n, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k, max_tokens=s.max_new_tokens, logprobs=0, seed=seed)
        return SamplingParams(**{**options, **fixed}, detokenize=False)  # decoded once, whole, in _generate

    def ready(self) -> int:
        """The worker's process id, once its engine is up."""
        return os.getpid()

    @staticmethod
    def _sampled_logprobs(completion) -> list[float]:
        return [step[token].logprob for step, token in zip(completion.logprobs, completion.token_ids)]

    def generate(self, prompts: list[Prompt], n: int, sampling: SamplingConfig | None = None) -> list[Group]:
        """G = n samples for each prompt (interactively for prompts with a plan; seeded per prompt when
        it has a seed), with the pool's sampling settings unless `sampling` is given."""
        start = time.perf_counter()
        try:
            if any(p.plan is not None for p in prompts):
                responses = self._generate_planned(prompts, n, sampling)
            else:
                responses = self._generate(prompts, n, sampling)
        except Exception as err:
            exit_if_engine_dead(err)
            raise
        seconds = time.perf_counter() - start
        return [Group(list(p.ids), rs, self.version, seconds) for p, rs in zip(prompts, responses)]

    def _generate(self, prompts: list[Prompt], n: int, sampling: SamplingConfig | None) -> list[list[Response]]:
        from vllm.inputs import TokensPrompt

        params = [self._params(n, sampling, p.seed) for p in prompts]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p.ids)) for p in prompts], params, use_tqdm=False)
        completions = [o for out in outputs for o in out.outputs]
        # the model's tokenizer decodes each whole response once (vLLM's streaming detokenizer would hold back a
        # trailing partial character, so the verifier would read other text than `python -m rewards score` does)
        texts = self.llm.get_tokenizer().batch_decode([o.token_ids for o in completions], skip_special_tokens=True) if self.has_tokenizer else None
        responses = [Response(list(o.token_ids), self._sampled_logprobs(o), None, o.finish_reason, texts[i] if texts else None)
                     for i, o in enumerate(completions)]
        return [responses[i * n : (i + 1) * n] for i in range(len(prompts))]

    def _generate_planned(self, prompts: list[Prompt], n: int, sampling: SamplingConfig | None) -> list[list[Response]]:
        """Rounds of fixed-length generation: round r extends every live sample by the plan's r-th given
        ids (r > 0) and `generate` sampled tokens; all samples of all prompts go to the engine at once
        (sample j of a seeded prompt draws round r with seed + j + r * SEED_STRIDE)."""
        from vllm.inputs import TokensPrompt

        if any(p.plan is None for p in prompts):
            raise ValueError("a generate call mixes prompts with and without a plan")
        ids = [[[] for _ in range(n)] for _ in prompts]
        logprobs = [[[] for _ in range(n)] for _ in prompts]
        masks = [[[] for _ in range(n)] for _ in prompts]
        for r in range(max(len(p.plan.append) for p in prompts) + 1):
            live = [(i, j) for i, p in enumerate(prompts) if r <= len(p.plan.append) for j in range(n)]
            requests, params, cache = [], [], {}
            for i, j in live:
                plan, seed = prompts[i].plan, prompts[i].seed
                if r > 0:
                    given = list(plan.append[r - 1])
                    ids[i][j] += given
                    logprobs[i][j] += [0.0] * len(given)
                    masks[i][j] += [0] * len(given)
                requests.append(TokensPrompt(prompt_token_ids=list(prompts[i].ids) + ids[i][j]))
                # a segment has a fixed length: the model's end-of-sequence token does not end it
                seed = None if seed is None else seed + j + r * SEED_STRIDE
                key = (plan.generate, tuple(plan.allowed or ()), seed)
                if key not in cache:
                    allowed = {"allowed_token_ids": list(range(*key[1]))} if key[1] else {}
                    cache[key] = self._params(1, sampling, seed, max_tokens=key[0], ignore_eos=True, **allowed)
                params.append(cache[key])
            for (i, j), out in zip(live, self.llm.generate(requests, params, use_tqdm=False)):
                completion = out.outputs[0]
                ids[i][j] += list(completion.token_ids)
                logprobs[i][j] += self._sampled_logprobs(completion)
                masks[i][j] += [1] * len(completion.token_ids)
        return [[Response(ids[i][j], logprobs[i][j], masks[i][j], "length") for j in range(n)] for i in range(len(prompts))]

    def prompt_logprobs(self, sequences: list[tuple[list[int], list[int]]]) -> list[list[float]]:
        """log p(response token | everything before it) at temperature 1, for each (prompt ids, response
        ids): the engine's own numbers for the same tokens the learner scores (the post-sync check)."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(max_tokens=1, temperature=1.0, prompt_logprobs=0, detokenize=False)
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p) + list(r)) for p, r in sequences], params, use_tqdm=False)
        out = []
        for (prompt, response), o in zip(sequences, outputs):
            tokens = list(prompt) + list(response)
            out.append([o.prompt_logprobs[t][tokens[t]].logprob for t in range(len(prompt), len(tokens))])
        return out

    def load_weights(self, version: int, bucket_refs: list) -> dict:
        """Fetch the buckets from the object store one by one, reload in place, clear the prefix cache."""
        start = time.perf_counter()
        for ref in bucket_refs:
            self.llm.collective_rpc("stage_weight_bucket", args=(ray.get(ref),))
        return self._loaded(version, self.llm.collective_rpc("commit_weights")[0], start)

    def join_weight_group(self, host: str, port: int, rank: int, world_size: int, backend: str, timeout_s: float) -> None:
        """Join the weight-broadcast group as receiver `rank` (blocks until every member joined; its
        collectives time out after `timeout_s`, as the sender's)."""
        from core.net import node_address

        self.llm.collective_rpc("join_weight_group", args=(host, port, rank, world_size, backend, node_address(), timeout_s))

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
