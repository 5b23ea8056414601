"""One learner rank: a DeepSpeed engine over a causal LM, run as a Ray actor by learner/group.py.

The rank owns the trainable model (ZeRO stage from config, gloo on CPU / NCCL on GPU), a frozen
reference copy when the KL coefficient is non-zero, the GRPO and MLE losses (learner/algorithms.py),
checkpoint save / load, the Hugging Face export, and the weight export for rollout sync.
A GRPO step arrives as this rank's shard of each mini-batch (Samples, core/protocol.py) with one
advantage per sample: the old and reference log-probs the loss needs are computed here, before the
first update, and never leave the rank. Every method that touches the engine is collective: the group
calls it on all ranks at once.
"""

from __future__ import annotations

import datetime
import os
import shutil
import time
from pathlib import Path

from core.protocol import Sample
from learner.batching import pad_batch, padding_fraction, response_values, token_budget_batches
from learner.config import LearnerConfig

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


class LearnerRank:
    """A DeepSpeed rank."""

    def __init__(self, model_path: str, config: dict, lr: float, rank: int, world_size: int, temperature: float = 1.0, seed: int = 0,
                 old_logprobs: str = "recompute"):
        """Light: the group then asks rank 0 for a free address on its node and calls `start` on every rank.
        `old_logprobs`: "rollout" (the samples' sampled log-probs are the PPO ratio's old ones) or "recompute"."""
        from core.actors import redirect_worker_output

        redirect_worker_output()  # DeepSpeed's output to the run's logs/ (run.worker_logs)
        os.environ.update(RANK=str(rank), LOCAL_RANK="0", WORLD_SIZE=str(world_size))
        self.cfg = LearnerConfig.model_validate(config)
        self.rank, self.world_size, self.temperature, self.seed, self.lr = rank, world_size, temperature, seed, lr
        self.old_source = old_logprobs
        self.model_path = model_path
        self._prepared = None  # (batch id, old, ref log-probs) of the batch being trained (`sequence_kl`, `train_grpo`)

    def start(self, master_host: str, master_port: int) -> int:
        """Join the ranks' process group (its store hosted by rank 0 at master_host:master_port) and build
        the DeepSpeed engine; returns this process's id. Every socket of the group is bound to a node
        address (the store to master_host, gloo / NCCL to this node's interface), never to all interfaces."""
        import platform_compat

        platform_compat.apply()
        import deepspeed
        import torch
        import torch.distributed as dist

        from core.net import bind_collectives_to, bound_store, node_address

        torch.set_num_threads(max(1, int(self.cfg.cpus)))
        on_gpu = self.cfg.gpus > 0 and torch.cuda.is_available()
        self.device = torch.device("cuda", 0) if on_gpu else torch.device("cpu")
        backend = "nccl" if on_gpu else "gloo"
        bind_collectives_to(node_address())
        self._store = bound_store(master_host, master_port, self.rank, self.world_size, self.cfg.timeout_s)
        dist.init_process_group(backend, store=self._store, rank=self.rank, world_size=self.world_size,
                                timeout=datetime.timedelta(seconds=self.cfg.timeout_s))
        deepspeed.init_distributed(dist_backend=backend)  # uses the group just made
        self._build()
        return os.getpid()

    def reload(self, model_path: str, config: dict, lr: float, temperature: float, old_logprobs: str) -> int:
        """The job's next stage on these ranks (MLE, then RL): drop the engine, its optimizer and the
        weight group, and build them anew from `model_path` with these settings, as `start` builds them
        (seeded alike), in this process and process group; returns this process's id."""
        import gc

        self.engine.destroy()
        self.engine = self.optimizer = self.ref_model = self.weight_group = self._prepared = None
        gc.collect()
        self.cfg = LearnerConfig.model_validate(config)
        self.model_path, self.lr, self.temperature, self.old_source = model_path, lr, temperature, old_logprobs
        self._build()
        return os.getpid()

    def _build(self) -> None:
        """The DeepSpeed engine over `model_path` with a fresh AdamW, and the frozen reference copy when the KL coefficient is non-zero."""
        import deepspeed
        import torch
        from transformers import AutoModelForCausalLM

        torch.manual_seed(self.seed)
        self.dtype = getattr(torch, self.cfg.dtype)
        model = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=torch.float32)
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.cfg.weight_decay)
        ds_config = {
            "train_micro_batch_size_per_gpu": 1,  # nominal: micro-batches are packed by a token budget and
            "gradient_accumulation_steps": 1,  # the accumulation boundary is set by hand per mini-batch (see _step)
            "gradient_clipping": self.cfg.grad_clip,
            "zero_optimization": {"stage": self.cfg.zero_stage},
            "bf16": {"enabled": self.cfg.dtype == "bfloat16"},
            "steps_per_print": 10**9,
        }
        self.engine, self.optimizer, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, config=ds_config)
        self.ref_model = None
        if self.cfg.algorithm.kl_coef > 0:
            self.ref_model = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=self.dtype).to(self.device).eval()
            self.ref_model.requires_grad_(False)
        self.weight_group = None  # rank 0's member of the weight-broadcast group (core/weights.py)

    def ready(self) -> int:
        """The rank's process id, once its engine is up."""
        return os.getpid()

    # ---- forward passes ---------------------------------------------------------------------

    def _logits(self, model, batch: dict, restrict: bool = True):
        """Shifted logits [B, L-1, V]; at trained positions restricted to the sample's allowed id range, if any."""
        from learner.algorithms import restrict_logits

        ids, attn = batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device)
        logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1].float()
        if restrict and "allowed" in batch:
            logits = restrict_logits(logits, batch["allowed"].to(self.device), batch["mask"].to(self.device))
        return logits

    def _forward(self, model, batch: dict, with_entropy: bool = False):
        """Per-token log-probs (and entropies) of the shifted targets under `model`."""
        from learner.algorithms import token_logprobs_and_entropy

        return token_logprobs_and_entropy(self._logits(model, batch) / self.temperature, batch["targets"].to(self.device), with_entropy)

    def _logprobs(self, model, samples: list[Sample], raw: bool = False) -> list[list[float]]:
        """Response-token log-probs of each sample under `model` (raw: at temperature 1 over every id)."""
        import torch

        from learner.algorithms import token_logprobs

        out: list = [None] * len(samples)
        with torch.no_grad():
            for indices in token_budget_batches(samples, self.cfg.micro_batch_tokens):
                batch = pad_batch([samples[i] for i in indices])
                if raw:
                    logp = token_logprobs(self._logits(model, batch, restrict=False), batch["targets"].to(self.device))
                else:
                    logp, _ = self._forward(model, batch)
                for row, i in zip(logp, indices):
                    out[i] = response_values(row.cpu(), samples[i])
        return out

    def logprobs(self, samples: list[Sample]) -> list[list[float]]:
        """Response-token log-probs of each sample under the current model."""
        return self._logprobs(self.engine.module, samples)

    def probe_logprobs(self, samples: list[Sample]) -> list[list[float]]:
        """Log-probs at temperature 1 over the whole vocabulary: what a rollout engine reports for the
        same tokens given as a prompt (the post-sync check)."""
        return self._logprobs(self.engine.module, samples, raw=True)

    # ---- updates ----------------------------------------------------------------------------

    def _step(self, samples: list[Sample], loss_fn, rows: dict | None = None, advantages: list[float] | None = None) -> dict[str, float]:
        """One optimiser update over this rank's share of a mini-batch, in micro-batches packed by
        `micro_batch_tokens` (`rows` / `advantages`: per-sample values that travel with them).

        Each micro-batch's loss is weighted by its share of the rank's response tokens (token-mean
        aggregation) or of its sequences (the seq-mean aggregations), so the update follows the
        aggregation over the rank's whole share; DeepSpeed averages the ranks.
        """
        if not samples:
            raise ValueError("a rank needs at least one sample per mini-batch")
        rows = rows or {}
        size = (lambda s: s.trained_tokens) if self.cfg.algorithm.loss_aggregation == "token-mean" else (lambda s: 1)
        total = sum(size(s) for s in samples) or 1
        batches = token_budget_batches(samples, self.cfg.micro_batch_tokens)
        sums: dict[str, float] = {"padding_frac": padding_fraction(samples, batches)}
        for i, indices in enumerate(batches):
            self.engine.set_gradient_accumulation_boundary(i == len(batches) - 1)
            part = [samples[j] for j in indices]
            batch = pad_batch(part, {k: [v[j] for j in indices] for k, v in rows.items()},
                              [advantages[j] for j in indices] if advantages is not None else None)
            loss, metrics = loss_fn(batch)
            share = sum(size(s) for s in part) / total
            self.engine.backward(loss * share, scale_wrt_gas=False)
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + float(value) * share
        self.engine.step()
        sums["grad_norm"] = float(self.engine.get_global_grad_norm() or 0.0)
        return sums

    def _prepare(self, batch_id: int, shards: list[list[Sample]]) -> tuple[list, list | None]:
        """Old and reference log-probs of every sample of the step's shards (nested like them), under the
        weights before the step's first update: computed once per batch."""
        if self._prepared is not None and self._prepared[0] == batch_id:
            return self._prepared[1], self._prepared[2]
        alg = self.cfg.algorithm
        flat = [s for shard in shards for s in shard]
        old = [s.rollout_logprobs for s in flat] if self.old_source == "rollout" else self._logprobs(self.engine.module, flat)
        ref = self._logprobs(self.ref_model, flat) if alg.kl_coef > 0 else None
        nest = lambda rows: [rows[a : a + len(shard)] for a, shard in zip(_offsets(shards), shards)]  # noqa: E731
        self._prepared = (batch_id, nest(old), nest(ref) if ref is not None else None)
        return self._prepared[1], self._prepared[2]

    def sequence_kl(self, batch_id: int, shards: list[list[Sample]]) -> list[list[float]]:
        """Per sample, the KL of the current model from the reference summed over its trained tokens
        (learner.algorithm.kl_estimator): what `kl_in_reward` subtracts from its reward."""
        import torch

        from learner.algorithms import sequence_kl

        old, ref = self._prepare(batch_id, shards)
        if ref is None:
            raise ValueError("sequence_kl needs the reference model (learner.algorithm.kl_coef > 0)")
        estimator = self.cfg.algorithm.kl_estimator
        mask = lambda s, o: torch.tensor(s.loss_mask if s.loss_mask is not None else [1.0] * len(o), dtype=torch.float32)  # noqa: E731
        return [[float(sequence_kl(torch.tensor(o), torch.tensor(r), mask(s, o), estimator)) for s, o, r in zip(shard, olds, refs)]
                for shard, olds, refs in zip(shards, old, ref)]

    def train_grpo(self, batch_id: int, shards: list[list[Sample]], advantages: list[list[float]]) -> list[dict[str, float]]:
        """One GRPO update per shard (this rank's part of each mini-batch, in order), with one advantage
        per sample; returns each update's metrics, with the seconds spent on log-probs and on updates."""
        from learner.algorithms import grpo_loss

        alg = self.cfg.algorithm
        t0 = time.perf_counter()
        old, ref = self._prepare(batch_id, shards)
        t_logprobs = time.perf_counter() - t0
        with_entropy = alg.entropy_coef > 0
        kl_coef = 0.0 if alg.kl_in_reward else alg.kl_coef

        def loss_fn(batch):
            logp, entropy = self._forward(self.engine, batch, with_entropy)
            on = lambda key: batch[key].to(self.device) if key in batch else None  # noqa: E731
            return grpo_loss(
                logp, on("old_logprobs"), on("advantages"), on("mask"),
                ref_logprobs=on("ref_logprobs") if kl_coef > 0 else None,
                entropy=entropy,
                behaviour_logprobs=on("rollout_logprobs") if alg.tis_cap is not None else None,
                tis_cap=alg.tis_cap, eps_low=alg.eps_low, eps_high=alg.eps_high, dual_clip=alg.dual_clip,
                kl_coef=kl_coef, kl_estimator=alg.kl_estimator, entropy_coef=alg.entropy_coef,
                aggregation=alg.loss_aggregation, norm_tokens=alg.norm_tokens,
            )

        out = []
        t0 = time.perf_counter()
        for i, shard in enumerate(shards):
            rows = {"old_logprobs": old[i], **({"ref_logprobs": ref[i]} if ref is not None and kl_coef > 0 else {})}
            out.append(self._step(shard, loss_fn, rows, advantages[i]))
        for metrics in out:
            metrics.update({"time/learner_logprobs": t_logprobs, "time/learner_updates": time.perf_counter() - t0})
        self._prepared = None
        return out

    def train_mle(self, samples: list[Sample]) -> dict[str, float]:
        """One MLE update: cross-entropy on the response tokens."""
        from learner.algorithms import mle_loss

        def loss_fn(batch):
            loss = mle_loss(self._logits(self.engine, batch), batch["targets"].to(self.device), batch["mask"].to(self.device))
            return loss, {"mle_loss": loss.detach()}

        return self._step(samples, loss_fn)

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    # ---- weights out: sync, checkpoints, export ---------------------------------------------

    def _full_state(self):
        """Context yielding the full (gathered under ZeRO-3) named parameters, on every rank."""
        import contextlib

        import deepspeed

        module = self.engine.module
        gathered = (
            deepspeed.zero.GatheredParameters(list(module.parameters()), modifier_rank=None)
            if self.cfg.zero_stage == 3
            else contextlib.nullcontext()
        )
        return gathered, module

    def free_address(self) -> tuple[str, int]:
        """This node's address and a free port on it: where rank 0 hosts a group's store (the ranks' own, or the weight broadcast's)."""
        from core.net import free_port, node_address

        host = node_address()
        return host, free_port(host)

    def join_weight_group(self, host: str, port: int, world_size: int, backend: str) -> None:
        """Rank 0: open the weight-broadcast group as its sender (blocks until every receiver joined)."""
        from core.weights import WeightGroup

        self.weight_group = None  # a group being replaced (the rollout pool changed) is dropped first
        self.weight_group = WeightGroup(host, port, 0, world_size, backend, timeout_s=self.cfg.timeout_s)

    def weight_layout(self, bucket_bytes: int):
        """The collective bucket layout of the full weights (rank 0; [] elsewhere). Collective under ZeRO-3."""
        from core.weights import plan_buckets

        gathered, module = self._full_state()
        with gathered:
            return plan_buckets(module.state_dict().items(), bucket_bytes) if self.rank == 0 else []

    def broadcast_weights(self, layout) -> int:
        """Rank 0 sends the full weights over the weight group (the receivers call theirs at the same
        time); returns the bytes sent. Collective under ZeRO-3 (every rank gathers)."""
        gathered, module = self._full_state()
        with gathered:
            return self.weight_group.send(module.state_dict(), layout) if self.rank == 0 else 0

    def export_weights(self, bucket_bytes: int) -> list:
        """Rank 0: the weights as object-store refs of safetensors buckets; other ranks: []."""
        import ray

        from core.weights import to_buckets

        gathered, module = self._full_state()
        with gathered:
            if self.rank != 0:
                return []
            return [ray.put(b) for b in to_buckets(module.state_dict().items(), bucket_bytes)]

    def save_checkpoint(self, directory: str, tag: str) -> None:
        """Weights, optimizer and this rank's torch RNG state (DeepSpeed's files under directory/tag)."""
        import torch

        self.engine.save_checkpoint(directory, tag=tag, client_state={"torch_rng_state": torch.get_rng_state()})

    def load_checkpoint(self, directory: str, tag: str) -> None:
        import torch

        path, client_state = self.engine.load_checkpoint(directory, tag=tag)
        if path is None:
            raise FileNotFoundError(f"no checkpoint {tag!r} under {directory}")
        if client_state and "torch_rng_state" in client_state:
            torch.set_rng_state(client_state["torch_rng_state"])

    def export_hf(self, directory: str) -> None:
        """Save the model and the tokenizer it came with as a Hugging Face folder (rank 0 writes)."""
        gathered, module = self._full_state()
        with gathered:
            if self.rank == 0:
                module.save_pretrained(directory)
                for name in TOKENIZER_FILES:
                    src = Path(self.model_path) / name
                    if src.exists():
                        shutil.copy(src, Path(directory) / name)


def _offsets(shards: list[list]) -> list[int]:
    """Where each shard starts in the shards laid end to end."""
    out, at = [], 0
    for shard in shards:
        out.append(at)
        at += len(shard)
    return out
