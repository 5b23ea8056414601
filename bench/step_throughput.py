"""RL step throughput on the default text-game workload: this project (sync, async), TRL's GRPOTrainer,
and the raw limits, all in one run on the same machine.

    rlvr bench step [--steps 8] [--model runs/tiny_text_game/mle] [--skip-trl] [--quick]

Workload: the RL stage of `make demo` (configs/tiny_text_game.yaml): the demo's MLE model, its prompts
(16 per step, the same per step in every variant), G = 8, up to 256 new tokens, temperature 1, two
GRPO updates per step, KL 1e-3 against the start model, fp32, on this machine's cores. Without
--model (or runs/tiny_text_game/mle) the demo's MLE stage trains the start model first.

Measured, each after one warm-up step (engine compile, thread pools), as medians over --steps:
  sync (recompute)  this project in sync mode, old log-probs recomputed by the learner (the work per
                    step before the rollout's log-probs were used): the baseline of the "less work" ratio
  sync              this project in sync mode, old log-probs from the rollout (learner.old_logprobs: auto)
  sync (collective) the same, weights broadcast over a gloo group instead of the object store
  async             rl.mode=async, max_staleness 1, one engine thread (sync mode's engine uses the
                    learner's cores too, which would oversubscribe them here); the learner's two
                    threads share the cores with generation while it runs
  async (1 core ...) the same with one learner thread: learner and rollout one core each
  TRL vLLM / TRL HF TRL's GRPOTrainer (the `bench` extra) with the same model, prompts, G, max tokens,
                    two updates per generation round, beta 1e-3; vLLM colocated, or HF generate
  raw vLLM          one vLLM engine generating the same completions, nothing else
  raw torch step    plain torch on the same batch: old and reference log-probs plus two AdamW updates
It prints completions/s, generated tokens/s, per-phase seconds and the ratios the targets are stated in.
--quick (CI) shrinks everything to check that each variant runs; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHASES = ("time/generate", "time/reward", "time/wait", "time/train", "time/learner_logprobs", "time/learner_updates", "time/sync", "time/step")
VARIANTS = {  # name -> config overrides on top of the workload
    "sync (recompute)": ["learner.old_logprobs=recompute"],
    "sync": [],
    "sync (collective)": ["rollout.sync_transport=collective"],
    "async": ["rl.mode=async", "rl.max_staleness=1", "rollout.threads=1"],
    "async (1 core each)": ["rl.mode=async", "rl.max_staleness=1", "learner.cpus=1", "rollout.threads=1"],
}


def workload(args, out_dir: str, name: str, extra: list[str]):
    from services.config import load_config

    quick = ["rollout.sampling.max_new_tokens=32", "rl.prompts_per_step=4", "world.text_game.builtin_train_rows=64",
             "world.text_game.builtin_test_rows=8", "mle.epochs=0.5", "run.tiny.vocab_size=512", "run.tiny.hidden_size=64",
             "run.tiny.num_layers=2", "run.tiny.num_heads=2", "rl.mini_batch_prompts=2"] if args.quick else []
    return load_config(ROOT / "configs" / "tiny_text_game.yaml", [
        f"run.output_dir={out_dir}", f"run.name={name}", f"rl.steps={args.steps + 1}", "rl.checkpoint_every=1000000",
        "rollout.sampling.max_new_tokens=256", "rollout.sampling.temperature=1.0",  # the workload of issue #10's figures,
        *quick, *extra,                                                            # whatever the demo's rollout settings
    ])


def start_model(args, out_dir: str) -> str:
    """The demo's MLE model: given, found in runs/, or trained now by the demo's MLE stage."""
    if args.model:
        return args.model
    if not args.quick and (ROOT / "runs" / "tiny_text_game" / "mle" / "config.json").exists():
        return str(ROOT / "runs" / "tiny_text_game" / "mle")
    from services.mle import mle_stage
    from services.run import Pools, Run, load_tokenizer, prepare_model

    run = Run(workload(args, out_dir, "start_model", []))
    init = prepare_model(run)
    print("training the demo's MLE start model ...", flush=True)
    pools = Pools(run)
    try:
        return mle_stage(run, init, run.split("train", load_tokenizer(init)), pools)
    finally:
        pools.close()


def step_prompts(args, model: str, out_dir: str):
    """Prompt ids and references of every step of a variant, warm-up included (draw_prompts: the prompts
    the project's RL stage draws, so every variant trains on the same ones), and the workload config."""
    from services.pipeline import draw_prompts
    from services.run import Run, load_tokenizer

    run = Run(workload(args, out_dir, "prompts", []))
    data = run.split("train", load_tokenizer(model))
    prompts = [e for step in range(1, args.steps + 2) for e in draw_prompts(data, run.cfg.run.seed, step, run.cfg.rl.prompts_per_step, run.rl_mix())]
    return [e.prompt_ids for e in prompts], [e.example.reference for e in prompts], run.cfg


def project_variant(args, model: str, out_dir: str, name: str) -> dict:
    from services.rl import rl_stage
    from services.run import Pools, Run, load_tokenizer

    run = Run(workload(args, out_dir, name.replace(" ", "_").replace("(", "").replace(")", ""), VARIANTS[name] + args.override))
    pools = Pools(run)
    try:
        rl_stage(run, model, run.split("train", load_tokenizer(model)), pools)
    finally:
        pools.close()
    rows = [json.loads(line) for line in run.metrics_path.read_text().splitlines()]
    steps = [r for r in rows if r["stage"] == "rl"][1:]  # the first step warms up
    result = {k: statistics.median(r[k] for r in steps) for k in PHASES if k in steps[0]}
    result["completions"] = statistics.median(r["num_samples"] for r in steps)
    result["tokens"] = statistics.median(r["throughput/tokens_per_s"] * r["time/step"] for r in steps)
    result["staleness_max"] = max(r["staleness_max"] for r in steps)
    return result


def in_subprocess(script: str, args, model: str, out_dir: str, **extra) -> dict:
    """Run bench/<script> in a process of its own (its vLLM engine and temp files stay out of this one)
    on the same workload; it prints its results as JSON on its last line."""
    work_dir = Path(tempfile.mkdtemp(prefix=Path(script).stem + "-", dir=out_dir))
    spec = work_dir / "spec.json"
    spec.write_text(json.dumps({"model": model, "steps": args.steps, "quick": args.quick, "work_dir": str(work_dir), **extra}))
    env = {**os.environ, "TMPDIR": str(work_dir)}  # vLLM's and inductor's temp files go with the work dir
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / script), str(spec)], capture_output=True, text=True, cwd=ROOT, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"bench/{script} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None, prog: str = "rlvr bench step") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8, help="measured steps per variant (after one warm-up step)")
    parser.add_argument("--model", default=None, help="start model (default: runs/tiny_text_game/mle, else trained now)")
    parser.add_argument("--skip-trl", action="store_true", help="leave out TRL's GRPOTrainer (needs the bench extra)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check every variant runs (CI)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"this project's variants to run, comma-separated (default: all of {', '.join(VARIANTS)})")
    parser.add_argument("--override", action="append", default=[], metavar="key=value", help="a config override for every variant of this project (e.g. learner.zero_stage=0); repeatable")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)

    import platform_compat

    platform_compat.apply()
    from core.actors import worker_logs_in
    from core.cluster import ray_session

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="rlvr-bench-") as out_dir, worker_logs_in(Path(out_dir) / "logs"):  # engine output off the console
        with ray_session():
            model = start_model(args, out_dir)
        cfg = workload(args, out_dir, "workload", [])
        if not args.skip_trl:
            for use_vllm in (True, False):  # TRL's GRPOTrainer (the bench extra): bench/trl_grpo.py
                results["TRL vLLM" if use_vllm else "TRL HF"] = in_subprocess("trl_grpo.py", args, model, out_dir, use_vllm=use_vllm)
        with ray_session():
            for name in args.variants.split(","):
                if name not in VARIANTS:
                    parser.error(f"--variants: unknown variant {name!r}; known: {', '.join(VARIANTS)}")
                results[name] = project_variant(args, model, out_dir, name)
        results["raw"] = in_subprocess("raw_limits.py", args, model, out_dir)
    report(results, cfg)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


def report(results: dict[str, dict], cfg) -> None:
    G, P = cfg.rollout.group_size, cfg.rl.prompts_per_step
    print(f"\n== RL step throughput: {P} prompts x G={G}, <= {cfg.rollout.sampling.max_new_tokens} new tokens, "
          f"{P // cfg.rl.mini_batch_prompts} updates per step, fp32, {os.cpu_count()} cores ==")
    print(f"{'variant':<20}{'step s':>8}{'compl/s':>9}{'tok/s':>8}  phases (median s)")
    for name, r in results.items():
        if name == "raw":
            continue
        phases = "  ".join(f"{k.split('/')[1].removeprefix('learner_')}={r[k]:.2f}" for k in PHASES[:-1] if k in r)
        print(f"{name:<20}{r['time/step']:>8.2f}{r['completions'] / r['time/step']:>9.1f}{r['tokens'] / r['time/step']:>8.0f}  {phases}")
    raw = results["raw"]
    raw_train = raw["old_logprobs"] + raw["ref_logprobs"] + raw["updates"]
    print(f"{'raw vLLM':<20}{raw['generate']:>8.2f}{raw['completions'] / raw['generate']:>9.1f}{raw['tokens'] / raw['generate']:>8.0f}  generation alone")
    print(f"{'raw torch step':<20}{raw_train:>8.2f}{'':>9}{'':>8}  old={raw['old_logprobs']:.2f}  ref={raw['ref_logprobs']:.2f}  updates={raw['updates']:.2f}"
          f"  (32 sequences per pass: {raw['step_32_per_pass']:.2f})")

    rate = {n: r["completions"] / r["time/step"] for n, r in results.items() if n != "raw"}
    sync = results.get("sync")
    print("\nratios (same run):")
    if sync and "TRL vLLM" in rate:
        print(f"  sync / TRL vLLM colocate, completions/s: {rate['sync'] / rate['TRL vLLM']:.2f}x   (target >= 2)")
        print(f"  sync / TRL HF generate, completions/s:   {rate['sync'] / rate['TRL HF']:.2f}x")
    if sync and "sync (recompute)" in results:
        print(f"  sync step / sync (recompute) step:        {sync['time/step'] / results['sync (recompute)']['time/step']:.2f}   (train phase {sync['time/train']:.2f} s vs {results['sync (recompute)']['time/train']:.2f} s)")
    print(f"  raw torch step, token budget / 32 per pass: {raw_train / raw['step_32_per_pass']:.2f}")
    if sync and "sync (collective)" in results:
        print(f"  sync step, collective / object store:     {results['sync (collective)']['time/step'] / sync['time/step']:.2f}"
              f"   (sync phase {results['sync (collective)']['time/sync']:.3f} s vs {sync['time/sync']:.3f} s)")
    for name in ("async", "async (1 core each)"):
        if name in results:
            r = results[name]
            print(f"  {name + ' step / max(generate, train):':<41} {r['time/step'] / max(r['time/generate'], r['time/train']):.2f}   (target <= 1.1; staleness max {r['staleness_max']:.0f})")
            if sync:
                print(f"  {name + ' / sync, completions/s:':<41} {rate[name] / rate['sync']:.2f}x")
    if sync:
        print(f"  sync step / (raw vLLM + raw torch step):  {sync['time/step'] / (raw['generate'] + raw['ref_logprobs'] + raw['updates']):.2f}   (target <= 1.1)")
        print(f"  sync generate / raw vLLM:                 {sync['time/generate'] / raw['generate']:.2f}")
        print(f"  sync train / raw torch (ref + updates):   {sync['time/train'] / (raw['ref_logprobs'] + raw['updates']):.2f}   (the same work: the old log-probs are the rollout's)")

if __name__ == "__main__":
    sys.exit(main())
