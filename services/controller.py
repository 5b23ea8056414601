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
    """An example with its token ids (text worlds: prompt with BOS, answer with EOS)."""

    example: Example
    prompt_ids: list[int]
    answer_ids: list[int]
    answer_mask: list[int] | None = None  # token worlds: 0 on given (not generated) answer tokens
    plan: dict | None = None  # token worlds: the interactive generation plan (rollout/worker.py)

    def mle_sample(self) -> dict:
        return {"prompt_ids": self.prompt_ids, "response_ids": self.answer_ids, **self.training_fields(self.answer_mask)}

    def training_fields(self, loss_mask: list[int] | None) -> dict:
        """The loss mask and, when the plan restricts sampling to an id range, that range (learner/batching.py)."""
        fields = {} if loss_mask is None else {"loss_mask": loss_mask}
        if self.plan and self.plan.get("allowed"):
            fields["allowed"] = self.plan["allowed"]
        return fields


def predictions(groups: list[dict], tokenizer) -> list:
    """What the verifier scores, per response of every group: the text, or the token ids (no tokenizer)."""
    ids = [r["response_ids"] for g in groups for r in g["responses"]]
    return tokenizer.batch_decode(ids, skip_special_tokens=True) if tokenizer is not None else ids


def load_tokenizer(model_path: str):
    """The model's text tokenizer, or None for a token-id model (video)."""
    if not (Path(model_path) / "tokenizer_config.json").exists():
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_path)


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
        self.world = get_world(cfg.world, str(self.dir))
        self.verifier = cfg.rewards.verifier or self.world.verifier

    def split(self, name: str, tokenizer) -> list[Encoded]:
        """The encoded examples of a split (others than train: at most run.eval_max_examples, evenly spaced)."""
        data = self.encode(self.world.examples(name), tokenizer)
        cap = self.cfg.run.eval_max_examples
        if name == "train" or cap is None or len(data) <= cap:
            return data
        return [data[i * len(data) // cap] for i in range(cap)]

    def encode(self, examples: list[Example], tokenizer) -> list[Encoded]:
        """Token ids for each example; examples that leave no room for the response are reported and skipped."""
        out, skipped = [], 0
        for ex in examples:
            if ex.prompt_ids is not None:  # a token world: ids and plan come with the example
                item = Encoded(ex, ex.prompt_ids, ex.answer_ids, ex.answer_mask, vars(ex.plan) if ex.plan else None)
                response_len = len(ex.answer_ids)
            else:
                prompt = [tokenizer.bos_token_id] + tokenizer(ex.prompt)["input_ids"]
                item = Encoded(ex, prompt, tokenizer(" " + ex.answer)["input_ids"] + [tokenizer.eos_token_id])
                response_len = self.cfg.rollout.sampling.max_new_tokens
            if len(item.prompt_ids) + response_len > self.cfg.rollout.max_model_len:
                skipped += 1
                continue
            out.append(item)
        if skipped:
            print(f"note: skipped {skipped} of {len(examples)} examples that do not fit rollout.max_model_len = {self.cfg.rollout.max_model_len}")
        return out


def prepare_model(run: Run) -> str:
    """The starting model: a given Hugging Face folder, or a tiny one built from scratch (text worlds:
    with a BPE tokenizer trained on the train split; token worlds: over the world's vocabulary)."""
    if run.cfg.run.model != "tiny":
        if not Path(run.cfg.run.model).is_dir():
            raise FileNotFoundError(f"run.model: model folder not found: {run.cfg.run.model}")
        return run.cfg.run.model
    from learner.tiny import build_tiny_model, build_token_model

    out = run.dir / "tiny_init"
    if not (out / "config.json").exists():
        if run.world.vocab_size is not None:
            build_token_model(run.world.vocab_size, run.world.special_ids, out, run.cfg.run.tiny, seed=run.cfg.run.seed)
        else:
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
            metrics = learner.train_mle([e.mle_sample() for e in batch])
            log.log(step, None if time_budget_s else steps, {**metrics, "time/step": time.perf_counter() - t0})
            if time_budget_s is not None and time.perf_counter() - start >= time_budget_s:
                break
        out = run.dir / name
        learner.export_hf(str(out))
        return str(out)
    finally:
        learner.shutdown()


def plans_of(data: list[Encoded]) -> list[dict] | None:
    return [e.plan for e in data] if data and data[0].plan is not None else None


def rl_stage(run: Run, model_path: str, data: list[Encoded], tokenizer) -> str:
    """Synchronous on-policy GRPO; checkpoints every `checkpoint_every` steps and resumes from the last."""
    import torch

    from torch.nn.utils.rnn import pad_sequence

    from learner.algorithms import ADVANTAGE_ESTIMATORS, kl_penalised_rewards
    from learner.batching import loss_tokens
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
            groups = rollout.generate([e.prompt_ids for e in batch], n=G, plans=plans_of(batch))
            t_generate = time.perf_counter() - t0

            t0 = time.perf_counter()
            samples = [
                {"prompt_ids": g["prompt_ids"], "response_ids": r["response_ids"], "group": i, "version": g["version"],
                 **batch[i].training_fields(r.get("mask"))}
                for i, g in enumerate(groups)
                for r in g["responses"]
            ]
            results = rewards.score(predictions(groups, tokenizer), [batch[s["group"]].example.reference for s in samples])
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
                    for rows in ([s["old_logprobs"] for s in samples], [s["ref_logprobs"] for s in samples], [s.get("loss_mask", [1.0] * len(s["response_ids"])) for s in samples])
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
            tokens = sum(loss_tokens(s) for s in samples)
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


def evaluate(run: Run, models: dict[str, str], data: list[Encoded], tokenizer) -> dict[str, dict]:
    """Predictions of each model on `data` in each of run.eval_modes (greedy; sampled at
    run.eval_temperature / eval_top_k from the run's seed), scored with the world's verifier, saved as
    eval_<name>.json and printed side by side. Results are keyed by model name, with "@sampled" added
    in the sampled mode. A world with a `report` (video: strip images) gets every prediction."""
    from rewards.score import format_side_by_side, score_examples
    from rollout.pool import RolloutPool

    cfg = run.cfg
    temperature = {"greedy": 0.0, "sampled": cfg.run.eval_temperature}
    summaries, responses = {}, {}
    for mode in cfg.run.eval_modes:
        sampling = cfg.rollout.sampling.model_copy(update={"temperature": temperature[mode], "top_k": cfg.run.eval_top_k if mode == "sampled" else -1})
        for model, path in models.items():
            name = model if mode == "greedy" else f"{model}@{mode}"
            pool = RolloutPool(path, cfg.rollout.model_copy(update={"sampling": sampling}), seed=cfg.run.seed)
            try:
                groups = pool.generate([e.prompt_ids for e in data], n=1, plans=plans_of(data))
            finally:
                pool.shutdown()
            responses[name] = predictions(groups, tokenizer)
            summary, records = score_examples([e.example for e in data], {e.example.id: p for e, p in zip(data, responses[name])}, run.verifier)
            summaries[name] = {"model": path, **summary}
            (run.dir / f"eval_{name}.json").write_text(json.dumps({"summary": summaries[name], "samples": records}, indent=1))
    modes = ", ".join(m if m == "greedy" else f"sampled at temperature {cfg.run.eval_temperature}, top-k {cfg.run.eval_top_k}" for m in cfg.run.eval_modes)
    print(f"== evaluation ({len(data)} {cfg.run.eval_split} examples; {modes}) ==\n{format_side_by_side(summaries)}")
    if hasattr(run.world, "report"):
        print(f"saved {run.world.report(run.dir, [e.example for e in data], responses)}")
    return summaries


def run_job(cfg: JobConfig) -> dict:
    """Run the configured stages in order; returns {stage: output model path, or {model: eval summary}}.
    The eval stage evaluates every model this run produced (mle, rl), else the starting model."""
    import platform_compat

    platform_compat.apply()
    from services.cluster import ray_session

    run = Run(cfg)
    outputs: dict = {}
    with ray_session():
        model_path = prepare_model(run)
        tokenizer = load_tokenizer(model_path)
        train = run.split("train", tokenizer)
        for stage in cfg.run.stages:
            t0 = time.perf_counter()
            if stage == "mle":
                model_path = outputs["mle"] = mle_stage(run, model_path, train)
            elif stage == "rl":
                model_path = outputs["rl"] = rl_stage(run, model_path, train, tokenizer)
            elif stage == "eval":
                models = {name: outputs[name] for name in ("mle", "rl") if name in outputs} or {Path(model_path).name: model_path}
                outputs["eval"] = evaluate(run, models, run.split(cfg.run.eval_split, tokenizer), tokenizer)
            print(f"stage {stage} done in {time.perf_counter() - t0:.1f} s")
    return outputs
