"""Export a world's examples to files.

    python -m worlds export --split test --out data/test.jsonl [--answers data/test_answers.jsonl]

Writes the split's rows (the built-in simulator's, unless --data names a file) as JSONL, and with
--answers the reference answers in the predictions format of `python -m rewards score`
({"id", "prediction"}), e.g. to check a scorer or to use as SFT targets.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from worlds.config import TextGameConfig, WorldConfig
from worlds.registry import get_world


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worlds", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export", help="write a split's rows (and reference answers) as JSONL")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument("--rows", type=int, default=None, help="rows to generate with the built-in simulator (default: the config's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output JSONL of rows")
    p.add_argument("--answers", default=None, help="also write the reference answers as a predictions JSONL")
    args = parser.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())
