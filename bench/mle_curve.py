"""MLE learning curve: where does more MLE stop helping on held-out data? (sets `mle.epochs`)

    rlvr bench mle-curve [--config configs/tiny_text_game.yaml] [--epochs 4,2,2,2,3,3,4] [key=value ...]

Trains the config's model from scratch by MLE in chunks of epochs, each chunk continuing from the
previous one's export with a fresh optimizer (as the demo's equal-time MLE control continues from
the MLE model), and scores every export greedily with the world's verifier on the held-out split and
on 200 training examples. Prints one column per cumulative epoch count and saves `curve.json` in the
run directory (runs/<run.name>_mle_curve/). Where the held-out accuracy stops rising while the training
accuracy still climbs, MLE has levelled off (it memorises the training set): that is the MLE start
against which an equal-time MLE control is a fair bar for RLVR.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRAIN_SUBSET = 200


def main(argv: list[str] | None = None, prog: str = "rlvr bench mle-curve") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "configs" / "tiny_text_game.yaml"))
    parser.add_argument("--epochs", default="4,2,2,2,3,3,4", help="epochs of each chunk, comma-separated")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args(argv)
    chunks = [float(x) for x in args.epochs.split(",")]

    import platform_compat

    platform_compat.apply()
    from rewards.score import format_side_by_side
    from core.actors import worker_logs_in
    from core.cluster import ray_session
    from services.config import load_config
    from services.evaluation import HEADLINE, evaluate
    from services.mle import mle_stage
    from services.run import Pools, Run, load_tokenizer, prepare_model

    cfg = load_config(args.config, [*args.overrides, "eval.best_of=[]", "eval.modes=[greedy]"])
    cfg.run.name = f"{cfg.run.name}_mle_curve"
    shutil.rmtree(Path(cfg.run.output_dir) / cfg.run.name, ignore_errors=True)  # a curve from scratch every time
    run = Run(cfg)
    with ray_session(dashboard=False), worker_logs_in(run.dir.resolve() / "logs"):
        init = prepare_model(run)
        tokenizer = load_tokenizer(init)
        train, held_out = run.split("train", tokenizer), run.split(cfg.eval.split, tokenizer)
        size = min(TRAIN_SUBSET, len(train))
        train_subset = [train[i * len(train) // size] for i in range(size)]
        models, path, total = {}, init, 0.0
        pools = Pools(run)
        try:
            for chunk in chunks:
                run.cfg.mle.epochs = chunk
                total += chunk
                t0 = time.perf_counter()
                path = mle_stage(run, path, train, pools, name=f"mle_{total:g}")
                models[f"{total:g} epochs"] = path
                print(f"MLE to {total:g} epochs: {time.perf_counter() - t0:.0f} s", flush=True)
            splits = {cfg.eval.split: evaluate(run, models, held_out, pools), "train": evaluate(run, models, train_subset, pools)}
        finally:
            pools.close()
    curve = {split: {m: {k: r[k] for k in HEADLINE if k in r} for m, r in results.items()} for split, results in splits.items()}
    for split, rows in curve.items():
        print(f"\n== {split} ({len(held_out) if split != 'train' else len(train_subset)} examples, greedy) ==\n{format_side_by_side(rows)}")
    (run.dir / "curve.json").write_text(json.dumps(curve, indent=1))
    print(f"\nsaved {run.dir / 'curve.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
