"""The controller: the job's stages (mle, rl, eval) and the synchronous on-policy RL loop.

Read `rl_stage` top to bottom: draw prompts -> rollout pool (G samples each) -> reward pool ->
group advantages -> learner (old log-probs, mini-batch GRPO updates) -> publish weights -> every
rollout worker loads them. Each phase is timed and logged per step.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

from services.config import JobConfig
from services.metrics import MetricsLogger
from worlds.registry import Example


@dataclass
class Encoded:
    """An example with its token ids (prompt with BOS; answer with EOS)."""

    example: Example
    prompt_ids: list[int]
    answer_ids: list[int]


class Run:
    """One job run: its directory (resolved config, metrics, checkpoints, models), world and verifier."""

    def __init__(self, cfg: JobConfig):
        from services.config import to_yaml
        from worlds.registry import get_world

        self.cfg = cfg
        self.dir = Path(cfg.run.output_dir) / cfg.run.name
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "config.yaml").write_text(to_yaml(cfg))
        self.metrics_path = self.dir / "metrics.jsonl"
        self.world = get_world(cfg.world)
        self.verifier = cfg.rewards.verifier or self.world.verifier

    def split(self, name: str, tokenizer) -> list[Encoded]:
        """The encoded examples of a split (the eval split capped at run.eval_max_examples)."""
        data = self.encode(self.world.examples(name), tokenizer)
        return data if name == "train" else data[: self.cfg.run.eval_max_examples]

    def encode(self, examples: list[Example], tokenizer) -> list[Encoded]:
        """Token ids for each example; prompts that leave no room for a response are reported and skipped."""
        limit = self.cfg.rollout.max_model_len - self.cfg.rollout.sampling.max_new_tokens
        out, skipped = [], 0
        for ex in examples:
            prompt = [tokenizer.bos_token_id] + tokenizer(ex.prompt)["input_ids"]
            if len(prompt) > limit:
                skipped += 1
                continue
            out.append(Encoded(ex, prompt, tokenizer(" " + ex.answer)["input_ids"] + [tokenizer.eos_token_id]))
        if skipped:
            print(f"note: skipped {skipped} of {len(examples)} examples whose prompt exceeds {limit} tokens")
        return out


def prepare_model(run: Run) -> str:
    """The starting model: a given Hugging Face folder, or a tiny one built from the train split."""
    if run.cfg.run.model != "tiny":
        if not Path(run.cfg.run.model).is_dir():
            raise FileNotFoundError(f"run.model: model folder not found: {run.cfg.run.model}")
        return run.cfg.run.model
    from learner.tiny import build_tiny_model

    out = run.dir / "tiny_init"
    if not (out / "config.json").exists():
        texts = [ex.prompt + " " + ex.answer for ex in run.world.examples("train")]
        build_tiny_model(texts, out, run.cfg.run.tiny, seed=run.cfg.run.seed)
    return str(out)


def mle_stage(run: Run, model_path: str, data: list[Encoded], name: str = "mle", time_budget_s: float | None = None) -> str:
    """MLE / SFT on the answers for `run.mle_epochs` passes, or for `time_budget_s` seconds; exports the model."""
    from learner.group import LearnerGroup

    cfg = run.cfg
    learner_cfg = cfg.learner.model_copy(update={"lr": cfg.run.mle_lr, "algorithm": cfg.learner.algorithm.model_copy(update={"kl_coef": 0.0})})
    learner = LearnerGroup(model_path, learner_cfg)
    log = MetricsLogger(run.metrics_path, name)
    rng = random.Random(cfg.run.seed)
    steps = max(1, int(cfg.run.mle_epochs * len(data) / cfg.run.mle_batch_size))
    if time_budget_s is not None:
        steps = 10**9  # train until the time budget is spent, however many epochs that is
    start = time.perf_counter()
    try:
        order: list[Encoded] = []
        for step in range(1, steps + 1):
            if len(order) < cfg.run.mle_batch_size:
                order += rng.sample(data, len(data))
            batch, order = order[: cfg.run.mle_batch_size], order[cfg.run.mle_batch_size :]
            t0 = time.perf_counter()
            metrics = learner.train_mle([{"prompt_ids": e.prompt_ids, "response_ids": e.answer_ids} for e in batch])
            log.log(step, None if time_budget_s else steps, {**metrics, "time/step": time.perf_counter() - t0})
            if time_budget_s is not None and time.perf_counter() - start >= time_budget_s:
                break
        out = run.dir / name
        learner.export_hf(str(out))
        return str(out)
    finally:
        learner.shutdown()


def rl_stage(run: Run, model_path: str, data: list[Encoded], tokenizer) -> str:
    """Synchronous on-policy GRPO; checkpoints every `checkpoint_every` steps and resumes from the last."""
    import torch

    from torch.nn.utils.rnn import pad_sequence

    from learner.algorithms import ADVANTAGE_ESTIMATORS, kl_penalised_rewards
    from learner.group import LearnerGroup
    from rewards.pool import RewardPool
    from rewards.registry import get_verifier
    from rollout.pool import RolloutPool

    cfg, G, alg = run.cfg, run.cfg.rollout.group_size, run.cfg.learner.algorithm

    learner = LearnerGroup(model_path, cfg.learner, temperature=cfg.rollout.sampling.temperature)
    rollout = RolloutPool(model_path, cfg.rollout, seed=cfg.run.seed)
    rewards = RewardPool(cfg.rewards, run.verifier)
    summarize = get_verifier(run.verifier).summarize
    log = MetricsLogger(run.metrics_path, "rl")
    ckpt_dir, state_file = run.dir / "checkpoints", run.dir / "checkpoints" / "state.json"
    first_step = 1
    if state_file.exists():  # resume after a crash: weights, optimizer and the step counter
        state = json.loads(state_file.read_text())
        learner.load_checkpoint(str(ckpt_dir), state["tag"])
        rollout.load_weights(state["step"], learner.export_weights(int(cfg.rollout.sync_bucket_mb * 2**20)))
        first_step = state["step"] + 1
        print(f"resumed from {ckpt_dir}/{state['tag']} at step {state['step']}")
    rng = random.Random(cfg.run.seed)
    try:
        for step in range(first_step, cfg.run.rl_steps + 1):
            t_step = time.perf_counter()
            rng.seed(cfg.run.seed * 100_003 + step)  # the prompts of a step do not depend on resuming
            batch = rng.sample(data, min(cfg.run.prompts_per_step, len(data)))

            t0 = time.perf_counter()
            groups = rollout.generate([e.prompt_ids for e in batch], n=G)
            t_generate = time.perf_counter() - t0

            t0 = time.perf_counter()
            samples = [
                {"prompt_ids": g["prompt_ids"], "response_ids": r["response_ids"], "group": i, "version": g["version"]}
                for i, g in enumerate(groups)
                for r in g["responses"]
            ]
            texts = tokenizer.batch_decode([s["response_ids"] for s in samples], skip_special_tokens=True)
            results = rewards.score(texts, [batch[s["group"]].example.reference for s in samples])
            t_reward = time.perf_counter() - t0

            t0 = time.perf_counter()
            for s, old in zip(samples, learner.logprobs(samples)):  # the policy that generated the batch
                s["old_logprobs"] = old
            if alg.kl_coef > 0:
                for s, ref in zip(samples, learner.logprobs(samples, reference=True)):
                    s["ref_logprobs"] = ref
            reward = torch.tensor([r.reward for r in results])
            if alg.kl_in_reward and alg.kl_coef > 0:
                old, ref, mask = (
                    pad_sequence([torch.tensor(row, dtype=torch.float32) for row in rows], batch_first=True)
                    for rows in ([s["old_logprobs"] for s in samples], [s["ref_logprobs"] for s in samples], [[1.0] * len(s["response_ids"]) for s in samples])
                )
                reward = kl_penalised_rewards(reward, old, ref, mask, alg.kl_coef, alg.kl_estimator)
            advantages = ADVANTAGE_ESTIMATORS[alg.advantage_estimator](reward, torch.tensor([s["group"] for s in samples]))
            for s, a in zip(samples, advantages.tolist()):
                s["advantage"] = a
            train = learner.train_grpo(samples, samples_per_minibatch=cfg.learner.mini_batch_prompts * G)
            t_train = time.perf_counter() - t0

            t0 = time.perf_counter()
            rollout.load_weights(step, learner.export_weights(int(cfg.rollout.sync_bucket_mb * 2**20)))
            t_sync = time.perf_counter() - t0

            if step % cfg.run.checkpoint_every == 0 or step == cfg.run.rl_steps:
                learner.save_checkpoint(str(ckpt_dir), f"step{step}")
                state_file.write_text(json.dumps({"step": step, "tag": f"step{step}"}))

            step_s = time.perf_counter() - t_step
            tokens = sum(len(s["response_ids"]) for s in samples)
            task = {k: v for k, v in summarize(results).items() if isinstance(v, (int, float))}
            log.log(step, cfg.run.rl_steps, {
                **task, **train,
                "reward_std": float(reward.std()) if len(reward) > 1 else 0.0,
                "time/generate": t_generate, "time/reward": t_reward, "time/train": t_train,
                "time/sync": t_sync, "time/step": step_s,
                "throughput/tokens_per_s": tokens / step_s, "throughput/samples_per_s": len(samples) / step_s,
                "weights_version": step, "rollout_workers": len(rollout.workers),
                "rollout_min_version": min(rollout.versions()),
                "reward_timeouts": rewards.timeouts, "reward_worker_restarts": rewards.restarts,
            })
        out = run.dir / "rl"
        learner.export_hf(str(out))
        return str(out)
    finally:
        for part in (rollout, rewards, learner):
            part.shutdown()


def evaluate(run: Run, model_path: str, data: list[Encoded], tokenizer, name: str) -> dict:
    """Greedy predictions of `model_path` on `data`, scored with the world's verifier; saved as JSON."""
    from rewards.score import format_table, score_examples
    from rollout.pool import RolloutPool

    cfg = run.cfg
    pool = RolloutPool(model_path, cfg.rollout.model_copy(update={"sampling": cfg.rollout.sampling.model_copy(update={"temperature": 0.0})}))
    try:
        groups = pool.generate([e.prompt_ids for e in data], n=1)
    finally:
        pool.shutdown()
    texts = tokenizer.batch_decode([g["responses"][0]["response_ids"] for g in groups], skip_special_tokens=True)
    summary, records = score_examples([e.example for e in data], {e.example.id: t for e, t in zip(data, texts)}, run.verifier)
    summary = {"model": model_path, **summary}
    (run.dir / f"eval_{name}.json").write_text(json.dumps({"summary": summary, "samples": records}, indent=1))
    print(f"== evaluation of {name} ({len(data)} {cfg.run.eval_split} examples, greedy) ==\n{format_table(summary)}")
    return summary


def run_job(cfg: JobConfig) -> dict:
    """Run the configured stages in order; returns {stage: output model path or eval summary}."""
    import platform_compat

    platform_compat.apply()
    from transformers import AutoTokenizer

    from services.cluster import ray_session

    run = Run(cfg)
    outputs: dict = {}
    with ray_session():
        model_path = prepare_model(run)
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        train = run.split("train", tokenizer)
        for stage in cfg.run.stages:
            t0 = time.perf_counter()
            if stage == "mle":
                model_path = outputs["mle"] = mle_stage(run, model_path, train)
            elif stage == "rl":
                model_path = outputs["rl"] = rl_stage(run, model_path, train, tokenizer)
            elif stage == "eval":
                data = run.split(cfg.run.eval_split, tokenizer)
                outputs["eval"] = evaluate(run, model_path, data, tokenizer, Path(model_path).name)
            print(f"stage {stage} done in {time.perf_counter() - t0:.1f} s")
    return outputs
