"""The job entrypoint: `rlvr train --config configs/X.yaml key=value ...` (and `rlvr eval`).

Runs the configured stages (mle, rl, eval) in a run directory `run.output_dir/run.name` holding the
resolved config, metrics.jsonl, checkpoints and the exported models. Without a cluster address it
starts Ray locally on 127.0.0.1; with RAY_ADDRESS (or under `ray job submit`) it attaches.
`--help` lists every config field with its type, default and description; `--check` validates the
config (file + overrides) and prints the resolved YAML. Config errors exit with status 2 and name the
field before anything starts.
"""

from __future__ import annotations

import argparse
import sys

from services.config import ConfigError, describe, load_config, to_yaml

EPILOG_HEAD = "config fields (override any with dotted key=value):"


DESCRIPTION = "Train a world model with MLE and RLVR (GRPO) on Ray."
EVAL_DESCRIPTION = ("Evaluate a run's models on its held-out split: the models its finished stages produced (mle, rl), "
                    "else run.model; the results land in the run directory (eval_<model>.json).")


def parse_args(argv: list[str] | None, prog: str = "rlvr train", description: str = DESCRIPTION) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=EPILOG_HEAD + "\n" + "\n".join(describe()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", default=None, help="YAML job config (default: built-in defaults)")
    parser.add_argument("--check", action="store_true", help="validate the config, print it resolved, and exit")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. rl.lr=1e-5")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, prog: str = "rlvr train", stages: list[str] | None = None) -> int:
    args = parse_args(argv, prog, EVAL_DESCRIPTION if stages == ["eval"] else DESCRIPTION)
    overrides = args.overrides + ([f"run.stages=[{','.join(stages)}]"] if stages else [])
    try:
        config = load_config(args.config, overrides)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.check:
        print(to_yaml(config), end="")
        return 0
    from services.checkpoints import CheckpointError
    from services.controller import run_job
    from services.ctl import JobStopped
    from services.resources import ResourceError
    from services.run import RunDirError
    from worlds.registry import DatasetError, WorldError
    from worlds.video.episodes import EpisodeError
    from worlds.web.browser import BrowserError

    try:
        run_job(config)
    except (RunDirError, CheckpointError, DatasetError, WorldError, EpisodeError, BrowserError, ResourceError) as err:  # bad input: the message says what and where
        print(f"error: {err}", file=sys.stderr)
        return 1
    except JobStopped as stopped:  # asked for (rlvr ctl stop): not a failure
        print(stopped, flush=True)
    return 0


def eval_main(argv: list[str] | None = None, prog: str = "rlvr eval") -> int:
    """`rlvr eval`: the eval stage alone (run.stages=[eval])."""
    return main(argv, prog, stages=["eval"])


if __name__ == "__main__":
    sys.exit(main())
