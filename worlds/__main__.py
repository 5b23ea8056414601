"""Datasets: export a world's split, record real web-page transitions, list the web task types.

    rlvr data export --split test --out data/test.jsonl [--answers data/test_answers.jsonl]
    rlvr data record-web --tasks click-tab enter-text --episodes 4 --out web.jsonl [--steps 4] [--workers 2] [--seed 0]
    rlvr data tasks      # the MiniWoB++ task types BrowserGym registers (`--tasks all` records every one)

`export` writes the split's rows (the built-in text-game simulator's) as JSONL, and with --answers the
reference answers in the predictions format of `rlvr score` ({"id", "prediction"}), e.g. to check a
scorer or to use as SFT targets. `record-web` drives MiniWoB++ pages in the system's chromium
(worlds/web/recorder.py); its rows are the JSONL of worlds/web/data.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None, prog: str = "rlvr data") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export", help="write a split's rows (and reference answers) as JSONL")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument("--rows", type=int, default=None, help="rows to generate with the built-in simulator (default: the config's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output JSONL of rows")
    p.add_argument("--answers", default=None, help="also write the reference answers as a predictions JSONL")
    r = sub.add_parser("record-web", help="record web-page transitions with a random policy in chromium")
    r.add_argument("--tasks", nargs="+", required=True, help="MiniWoB++ task types, or 'all'")
    r.add_argument("--episodes", type=int, default=4, help="episodes per task type")
    r.add_argument("--steps", type=int, default=4, help="most actions per episode")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--workers", type=int, default=1, help="browsers in parallel (Ray tasks on a local Ray bound to 127.0.0.1)")
    r.add_argument("--out", required=True, help="output JSONL")
    sub.add_parser("tasks", help="list the web task types")
    args = parser.parse_args(argv)
    if args.command == "export":
        return export(args)
    return record_web(args, prog)


def export(args: argparse.Namespace) -> int:
    from worlds.config import TextGameConfig, WorldConfig
    from worlds.registry import get_world

    text_cfg = TextGameConfig(**({f"builtin_{args.split}_rows": args.rows} if args.rows else {}))
    world = get_world(WorldConfig(seed=args.seed, text_game=text_cfg))
    rows = world.rows(args.split)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("".join(json.dumps(row) + "\n" for row in rows))
    print(f"wrote {len(rows)} {args.split} rows to {args.out}")
    if args.answers:
        examples = world.examples(args.split)
        Path(args.answers).write_text("".join(json.dumps({"id": ex.id, "prediction": ex.answer}) + "\n" for ex in examples))
        print(f"wrote {len(examples)} reference answers to {args.answers}")
    return 0


def record_web(args: argparse.Namespace, prog: str) -> int:
    from worlds.web.browser import BrowserError
    from worlds.web.recorder import record, registered_tasks, summary_line, write_jsonl

    try:
        known = registered_tasks()
        if args.command == "tasks":
            print("\n".join(known))
            return 0
        tasks = known if args.tasks == ["all"] else args.tasks
        unknown = sorted(set(tasks) - set(known))
        if unknown:
            print(f"error: --tasks: unknown MiniWoB++ task type(s) {unknown}; `{prog} tasks` lists them", file=sys.stderr)
            return 2
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
