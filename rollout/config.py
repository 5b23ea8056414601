"""Typed settings of the rollout pool (vLLM engines)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.actors import PoolConfig


class SamplingConfig(BaseModel):
    """How responses are sampled (paper: temperature 1.0, top-p 1.0)."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(1.0, ge=0.0, description="Sampling temperature (0 = greedy)")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass")
    top_k: int = Field(-1, ge=-1, description="Top-k sampling (-1 = off; paper video eval: 100)")
    max_new_tokens: int = Field(512, ge=1, description="Maximum response tokens")


class RolloutConfig(PoolConfig):
    """The pool of rollout workers, one vLLM engine each (count, cpus, gpus, resources: per worker)."""

    count: int = Field(1, ge=1, description="Rollout workers (vLLM engines), scaled independently of the learner (`rlvr ctl scale rollout=N` while a job runs)")
    threads: int | None = Field(None, ge=1, description="Torch threads of each engine on CPU; unset = cpus (at least 1). In sync mode generation and training never overlap, so one machine's engine may use the learner's cores too")
    group_size: int = Field(5, ge=1, description="Samples per prompt, G (paper text game: 5)")
    dtype: Literal["float32", "bfloat16", "float16"] = Field("float32", description="Engine weight dtype")
    max_model_len: int = Field(2048, ge=16, description="Longest prompt + response the engine accepts")
    kv_cache_gib: float = Field(1.0, gt=0.0, description="KV-cache memory per engine on CPU (VLLM_CPU_KVCACHE_SPACE)")
    sync_transport: Literal["object_store", "collective"] = Field("object_store", description="How new weights reach the workers: buckets through the Ray object store, or broadcast by learner rank 0 over a torch.distributed group (gloo on CPU, NCCL on GPU)")
    sync_bucket_mb: float = Field(64.0, gt=0.0, description="Size of the weight buckets (object-store objects, or broadcast buffers)")
    timeout_s: float = Field(600.0, gt=0.0, description="A generation call that makes no progress for this long (counted from when a ready, idle worker got it) is cut off: the worker is replaced and its prompts generated again elsewhere")
    max_attempts: int = Field(3, ge=1, description="Workers a slice of prompts is tried on (the first included) before the step fails naming it; a worker that died or hung is replaced each time")
    verify_sync_every: int = Field(10, ge=0, description="Post-sync check every this many RL steps (and after every learner restart or pool membership change): every rollout worker and the learner score a fixed probe of sampled sequences, and the run stops if they disagree beyond verify_sync_tolerance; 0 = off")
    verify_sync_tolerance: float | None = Field(None, gt=0.0, description="Largest log-prob difference the post-sync check accepts; unset = 1e-3 when the engine and the learner both run float32 (measured ~1e-5 on CPU), else 5e-2")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig, description="Sampling parameters")
