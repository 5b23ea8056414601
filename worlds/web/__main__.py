"""Record real web-page transitions from MiniWoB++ pages (worlds/web/recorder.py).

    python -m worlds.web record --tasks click-tab enter-text --episodes 4 --out web.jsonl [--steps 4] [--workers 2] [--seed 0]
    python -m worlds.web tasks      # the MiniWoB++ task types BrowserGym registers

`--tasks all` records every registered task type. Rows are the JSONL of worlds/web/data.py.
"""

from __future__ import annotations

import argparse
import sys


def registered_tasks() -> list[str]:
    import gymnasium as gym

    from worlds.web import browser

    browser.setup()
    return sorted(name.split(".", 1)[1] for name in gym.envs.registry if name.startswith("browsergym/miniwob."))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worlds.web", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("record", help="record transitions with a random policy")
    p.add_argument("--tasks", nargs="+", required=True, help="MiniWoB++ task types, or 'all'")
    p.add_argument("--episodes", type=int, default=4, help="episodes per task type")
    p.add_argument("--steps", type=int, default=4, help="most actions per episode")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="browsers in parallel (Ray tasks on a local Ray bound to 127.0.0.1)")
    p.add_argument("--out", required=True, help="output JSONL")
    sub.add_parser("tasks", help="list the task types")
    args = parser.parse_args(argv)

    from worlds.web.browser import BrowserError

    try:
        known = registered_tasks()
        if args.command == "tasks":
            print("\n".join(known))
            return 0
        tasks = known if args.tasks == ["all"] else args.tasks
        unknown = sorted(set(tasks) - set(known))
        if unknown:
            print(f"error: --tasks: unknown MiniWoB++ task type(s) {unknown}; `python -m worlds.web tasks` lists them", file=sys.stderr)
            return 2
        from worlds.web.recorder import record, summary_line, write_jsonl

        result = record(tasks, args.episodes, args.steps, seed=args.seed, workers=args.workers)
    except BrowserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    write_jsonl(result["rows"], args.out)
    print(f"{summary_line(result)}; saved {args.out}")
    for failure in result["failed"]:
        print(f"  failed episode {failure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
