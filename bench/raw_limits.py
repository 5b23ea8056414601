"""The raw limits of the step_throughput workload, in a process of its own: one vLLM engine generating the
same completions (nothing else), and one plain torch training step on that batch (old and reference
log-probs plus the GRPO updates, with the learner's loss, KL and entropy bonus included, and token-budget
micro-batches; no Ray, no DeepSpeed), also timed with the learner's batching before the token budget (32 sequences per pass). `python bench/raw_limits.py SPEC.json`; bench/step_throughput.py writes the spec and reads
the JSON on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def raw_limits(args, model: str, prompts: list[list[int]], cfg) -> dict:
    """vLLM alone on the same completions; one plain torch training step on that batch (no Ray, no DeepSpeed)."""
    import torch
    from transformers import AutoModelForCausalLM
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    from core.protocol import Sample
    from learner.algorithms import grpo_advantages, grpo_loss, token_logprobs_and_entropy
    from learner.batching import pad_batch, response_values, token_budget_batches

    G, P, s = cfg.rollout.group_size, cfg.rl.prompts_per_step, cfg.rollout.sampling
    llm = LLM(model=model, dtype="float32", max_model_len=cfg.rollout.max_model_len, enforce_eager=True, seed=0, logprobs_mode="processed_logprobs")
    params = SamplingParams(n=G, temperature=s.temperature, max_tokens=s.max_new_tokens, logprobs=0)
    times, batches = [], []
    for i in range(0, len(prompts), P):
        t0 = time.perf_counter()
        outs = llm.generate([TokensPrompt(prompt_token_ids=p) for p in prompts[i : i + P]], params, use_tqdm=False)
        times.append(time.perf_counter() - t0)
        batches.append([Sample(o.prompt_token_ids, list(c.token_ids), group=g) for g, o in enumerate(outs) for c in o.outputs])
    del llm
    samples = batches[-1]
    torch.set_num_threads(max(1, int(cfg.learner.cpus)))
    policy = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    reference = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32).eval()
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.rl.lr)
    budget, alg = cfg.learner.micro_batch_tokens, cfg.learner.algorithm
    rewards = torch.rand(len(samples))  # the values do not change the cost
    advantages = grpo_advantages(rewards, torch.tensor([x.group for x in samples])).tolist()
    rows: dict[str, list] = {"old_logprobs": [None] * len(samples), "ref_logprobs": [None] * len(samples)}

    def logprobs(model_, idx, with_rows=False, with_entropy=False):
        part = [samples[i] for i in idx]
        b = pad_batch(part, {k: [v[i] for i in idx] for k, v in rows.items()} if with_rows else None, [advantages[i] for i in idx])
        logits = model_(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits[:, :-1].float() / s.temperature
        return b, *token_logprobs_and_entropy(logits, b["targets"], with_entropy)

    def passes(batch: list[Sample], by_count: bool) -> list[list[int]]:
        """Token-budget micro-batches, or (the learner's batching before) 32 sequences per pass in arrival order."""
        return [list(range(i, min(i + 32, len(batch)))) for i in range(0, len(batch), 32)] if by_count else token_budget_batches(batch, budget)

    def train_step(by_count: bool = False) -> dict:
        t = {}
        t0 = time.perf_counter()
        with torch.no_grad():
            for key, m in (("old_logprobs", policy), ("ref_logprobs", reference)):
                for idx in passes(samples, by_count):
                    _, lp, _ = logprobs(m, idx)
                    for row, i in zip(lp, idx):
                        rows[key][i] = response_values(row, samples[i])
                t[key] = time.perf_counter() - t0
                t0 = time.perf_counter()
        per_update = len(samples) // max(1, P // cfg.rl.mini_batch_prompts)
        for u in range(0, len(samples), per_update):
            mini = list(range(u, min(u + per_update, len(samples))))
            total = sum(len(samples[i].response_ids) for i in mini)
            for idx in passes([samples[i] for i in mini], by_count):
                part = [mini[i] for i in idx]
                b, lp, entropy = logprobs(policy, part, with_rows=True, with_entropy=alg.entropy_coef > 0)
                loss, _ = grpo_loss(lp, b["old_logprobs"], b["advantages"], b["mask"], ref_logprobs=b["ref_logprobs"], kl_coef=alg.kl_coef,
                                    entropy=entropy, entropy_coef=alg.entropy_coef, eps_low=alg.eps_low, eps_high=alg.eps_high)
                (loss * sum(len(samples[i].response_ids) for i in part) / total).backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.learner.grad_clip)
            optimizer.step()
            optimizer.zero_grad()
        t["updates"] = time.perf_counter() - t0
        return t

    train_step()  # warm-up
    repeats = max(1, min(3, args.steps))
    train = [train_step() for _ in range(repeats)]
    by_count = [train_step(by_count=True) for _ in range(repeats)]
    return {
        "generate": statistics.median(times[1:] or times),
        "tokens": statistics.median(sum(len(x.response_ids) for x in b) for b in batches),
        "completions": len(samples),
        **{k: statistics.median(t[k] for t in train) for k in train[0]},
        "step_32_per_pass": statistics.median(sum(t.values()) for t in by_count),
    }


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    os.environ.update(VLLM_ENABLE_V1_MULTIPROCESSING="0", VLLM_CPU_KVCACHE_SPACE="1")
    import platform_compat

    platform_compat.apply()
    from bench.step_throughput import step_prompts

    args = argparse.Namespace(steps=spec["steps"], quick=spec["quick"])
    prompts, _, cfg = step_prompts(args, spec["model"], spec["work_dir"])
    print(json.dumps(raw_limits(args, spec["model"], prompts, cfg)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
