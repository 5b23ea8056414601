"""The embedded demo: MLE warm start -> RLVR, against an equal-time MLE control, on held-out data.

    rlvr demo --config configs/tiny_text_game.yaml [key=value ...]

1. build a tokenizer and a tiny model from the built-in training split and train it by MLE;
2. run RLVR (GRPO with the verifier's reward) from that checkpoint, timing the stage;
3. as a control, continue MLE from the same checkpoint for the same wall time;
4. evaluate all three greedily on the held-out split and print them side by side with the reward curve,
   and (eval.best_of) the best-of-N curves of MLE's and RLVR's sampled predictions (paper Fig. 4).
Everything lands in the run directory (demo_summary.json holds the tables, best_of.png the curves).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from rewards.score import format_side_by_side
from services.config import ConfigError, load_config
from services.evaluation import evaluate
from services.mle import mle_stage
from services.rl import rl_stage
from services.controller import configure_logging
from services.run import Pools, Run, load_tokenizer, prepare_model


def reward_curve(run: Run, width: int = 10) -> list[tuple[int, float]]:
    """(step, mean reward) of the RL stage, thinned to about `width` points."""
    rows = [json.loads(line) for line in run.metrics_path.read_text().splitlines()]
    rl = [(r["step"], r["reward_mean"]) for r in rows if r["stage"] == "rl"]
    stride = max(1, len(rl) // width)
    return rl[::stride] + ([rl[-1]] if rl and rl[-1] not in rl[::stride] else [])


def main(argv: list[str] | None = None, prog: str = "rlvr demo") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/tiny_text_game.yaml", help="YAML job config (default: %(default)s)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides, e.g. rl.steps=20")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    import platform_compat

    platform_compat.apply()
    from core.actors import worker_logs_in
    from core.cluster import ray_session
    from services.resources import check as check_resources

    configure_logging()
    start = time.perf_counter()
    previous = Path(cfg.run.output_dir) / cfg.run.name
    if (previous / "config.yaml").exists():  # a benchmark from scratch every time: an old demo's checkpoints must not be resumed
        print(f"demo: replacing the previous demo run in {previous}")
        shutil.rmtree(previous)
    run = Run(cfg)
    timings: dict[str, float] = {}
    with ray_session(dashboard=cfg.run.dashboard) as session, worker_logs_in(run.dir.resolve() / "logs", cfg.run.worker_logs == "file"):
        print(session.banner(), flush=True)
        if cfg.run.check_resources:
            check_resources(cfg)
        init = prepare_model(run)
        tokenizer = load_tokenizer(init)
        train, held_out = run.split("train", tokenizer), run.split(cfg.eval.split, tokenizer)
        pools = Pools(run)
        try:
            t0 = time.perf_counter()
            mle = mle_stage(run, init, train, pools)
            timings["mle"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            rl = rl_stage(run, mle, train, pools)
            timings["rl"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            control = mle_stage(run, mle, train, pools, name="mle_control", time_budget_s=timings["rl"])
            timings["mle_control"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            results = evaluate(run, {"mle": mle, "mle_control": control, "rl": rl}, held_out, pools, best_of=["mle", "rl"])
            timings["eval"] = time.perf_counter() - t0
        finally:
            pools.close()
    timings["total"] = time.perf_counter() - start

    print(f"\n== held-out {cfg.eval.split} split, {len(held_out)} examples, greedy ==\n{format_side_by_side(results)}")
    paired = json.loads((run.dir / "paired.json").read_text())  # rl against mle and mle_control, printed by evaluate
    print("\nRL reward curve (step: mean reward): " + "  ".join(f"{s}: {r:.3f}" for s, r in reward_curve(run)))
    print("wall time (s): " + "  ".join(f"{k}={v:.0f}" for k, v in timings.items()))
    best_of = json.loads((run.dir / "best_of.json").read_text()) if cfg.eval.best_of else {}
    (run.dir / "demo_summary.json").write_text(json.dumps({"results": results, "paired": paired, "best_of": best_of, "timings_s": timings, "reward_curve": reward_curve(run, 1000)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
