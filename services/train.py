"""The job entrypoint: `python -m services.train --config configs/X.yaml key=value ...`.

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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.train",
        description="Train a world model with MLE and RLVR (GRPO) on Ray.",
        epilog=EPILOG_HEAD + "\n" + "\n".join(describe()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", default=None, help="YAML job config (default: built-in defaults)")
    parser.add_argument("--check", action="store_true", help="validate the config, print it resolved, and exit")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. learner.lr=1e-5")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(args.config, args.overrides)
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
    except JobStopped as stopped:  # asked for (services.ctl stop): not a failure
        print(stopped, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
