"""`rlvr`: the project's one command (a console script, see pyproject.toml).

    rlvr train --config configs/tiny_text_game.yaml [key=value ...]     # a job's stages: mle -> rl -> eval
    rlvr demo | eval | score | compare | doctor
    rlvr ctl {status,scale,stop} | data {export,record-web,tasks} | model import-gguf | bench {step,reward,mle-curve}
    rlvr <command> --help

Each command is a `main(argv, prog)` of the module that owns the work (the table below); this module
only routes. Commands that run a job take `--config FILE` plus dotted `key=value` overrides.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

# command -> (the "module:function" that runs it, one line of help); a dict of them is a command group
COMMANDS: dict = {
    "train": ("services.train:main", "run a job's stages (mle, rl, eval) from a config; --check validates it and exits"),
    "demo": ("services.demo:main", "the demo: MLE -> RLVR against an equal-time MLE control, on held-out data"),
    "eval": ("services.train:eval_main", "evaluate a run's models (the eval stage alone) on held-out data"),
    "score": ("rewards.score:score_main", "score a predictions file against a dataset with a world's verifier"),
    "compare": ("rewards.score:compare_main", "compare two models' results example by example (wins, losses, sign test)"),
    "ctl": ("services.ctl:main", "control a running job: status, scale its pools, stop it with a checkpoint"),
    "data": ("worlds.__main__:main", "datasets: export a split, record web pages in chromium, list the web tasks"),
    "model": {
        "import-gguf": ("learner.gguf_import:main", "convert a GGUF file (default: SmolLM2-135M-Instruct) to a Hugging Face folder"),
    },
    "doctor": ("services.doctor:main", "check this machine (vLLM, torch, chromium, LPIPS weights, Ray, GPUs, caches) and say what to fix"),
    "bench": {
        "step": ("bench/step_throughput.py", "RL step throughput: sync, async, TRL's GRPOTrainer and the raw limits, in one run"),
        "reward": ("bench/reward_throughput.py", "video reward throughput: 1 vs 2 reward workers, batched vs one sample per call"),
        "mle-curve": ("bench/mle_curve.py", "held-out exact match along MLE training (where the MLE warm start saturates)"),
    },
}

ROOT = Path(__file__).resolve().parents[1]
# the build caches of the stack (compiled DeepSpeed ops, inductor kernels, models), as the Makefile sets them
CACHES = {"TORCH_EXTENSIONS_DIR": "torch_extensions", "TORCHINDUCTOR_CACHE_DIR": "inductor", "TRITON_CACHE_DIR": "triton",
          "VLLM_CACHE_ROOT": "vllm", "TORCH_HOME": "torch", "HF_HOME": "huggingface"}


def use_project_caches() -> None:
    """In a checkout, the caches the environment does not set go to its .cache/ folder (as with make):
    compiled once, kept between runs, removed with the checkout."""
    if (ROOT / "pyproject.toml").is_file() and os.access(ROOT, os.W_OK):
        for name, folder in CACHES.items():
            os.environ.setdefault(name, str(ROOT / ".cache" / folder))


def usage(prog: str, commands: dict) -> str:
    width = max(map(len, commands))
    lines = [f"usage: {prog} <command> [arguments]   ({prog} <command> --help for its own)", "", "commands:"]
    for name, spec in commands.items():
        if isinstance(spec, dict):
            lines.append(f"  {name:<{width}}  {', '.join(spec)}")
        else:
            lines.append(f"  {name:<{width}}  {spec[1]}")
    return "\n".join(lines)


def resolve(target: str):
    """The main(argv, prog) function a command names: "module:function", or a benchmark script of the checkout."""
    if target.endswith(".py"):
        path = ROOT / target
        if not path.is_file():
            raise SystemExit(f"error: {target} is not here: the benchmarks run from a checkout of the repository")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.main
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def main(argv: list[str] | None = None, prog: str = "rlvr", commands: dict = COMMANDS) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "" not in sys.path and os.getcwd() not in sys.path:  # as `python -m` does: a user's module:function (verifier, world) beside the command
        sys.path.insert(0, os.getcwd())
    use_project_caches()
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(prog, commands))
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in commands:
        print(f"{usage(prog, commands)}\n\nerror: no command {name!r}", file=sys.stderr)
        return 2
    spec = commands[name]
    if isinstance(spec, dict):
        return main(rest, f"{prog} {name}", spec)
    return resolve(spec[0])(rest, f"{prog} {name}") or 0


if __name__ == "__main__":
    sys.exit(main())
