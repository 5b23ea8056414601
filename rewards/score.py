"""Score a predictions file against a dataset with a world's verifier and print the paper's metrics.

    rlvr score --world text_game --data test.jsonl --predictions preds.jsonl [--out m.json]
    rlvr score --world web --data web_test.jsonl --predictions preds.jsonl
    rlvr compare runs/x/eval_mle.json runs/x/eval_rl.json   # example by example, sign test

Predictions: one JSON object per line, `{"id": ..., "prediction": "<model text>"}`, where id is the
row's id (text game: f"{game}_{state_id}"; web: the row's "id") or its 1-based line number in the
data file. A row with no prediction scores the floor reward and is counted as `missing_prediction`; a prediction line that
is malformed or names no row is an error naming its line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from rewards.registry import get_verifier
from rewards.types import RewardResult
from worlds.config import WorldConfig
from worlds.registry import Example, get_world


class PredictionsError(ValueError):
    """A predictions file that cannot be matched to the dataset; names the line."""


def load_predictions(path: str | Path, examples: list[Example]) -> dict[str, str]:
    """{example id: prediction text}, accepting ids or 1-based row line numbers."""
    by_line = {str(ex.meta.get("line")): ex.id for ex in examples if ex.meta.get("line") is not None}
    known = {ex.id for ex in examples}
    out: dict[str, str] = {}
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise PredictionsError(f"{where}: invalid JSON ({err.msg})") from None
        if not isinstance(item, dict) or "id" not in item or not isinstance(item.get("prediction"), str):
            raise PredictionsError(f"{where}: expected {{\"id\": ..., \"prediction\": \"<text>\"}}")
        key = str(item["id"])
        key = key if key in known else by_line.get(key, key)
        if key not in known:
            raise PredictionsError(f"{where}: id {item['id']!r} matches no row id or line number of the dataset")
        if key in out:
            raise PredictionsError(f"{where}: a second prediction for {key!r}")
        out[key] = item["prediction"]
    return out


def score_examples(examples: list[Example], predictions: dict[str, str], verifier_name: str) -> tuple[dict, list[dict]]:
    """(summary, per-sample records) for every example, scored in this process; missing predictions get
    the floor reward (error "missing_prediction")."""
    verifier = get_verifier(verifier_name)
    results = [verifier.score(predictions[ex.id], ex.reference) if ex.id in predictions
               else dataclasses.replace(verifier.score("", ex.reference), error="missing_prediction") for ex in examples]
    return verifier.summarize(results), example_records(examples, results)


def example_records(examples: list[Example], results: list[RewardResult]) -> list[dict]:
    """One record per example: its id, reward, error and metrics (what `compare` reads)."""
    return [{"id": ex.id, "reward": r.reward, "error": r.error, **r.metrics} for ex, r in zip(examples, results)]


LOWER_IS_BETTER = frozenset({"lpips", "mse", "l1", "repeated"})  # per-example metrics where a smaller value is the better one


def paired_comparison(base: list[dict], other: list[dict], metric: str = "exact_match") -> dict[str, dict]:
    """How `other` differs from `base` on the same examples (eval records with `id` and a numeric
    `metric`): per case (all, and changed / unchanged where records carry `changed`) the examples where
    `other` is better (wins) and where `base` is (losses; "better" is lower for LOWER_IS_BETTER
    metrics), with the exact two-sided sign test on those (McNemar for a 0/1 metric; scipy), and the
    mean difference other - base: a gain of a few examples on a few hundred is told apart from noise."""
    from scipy.stats import binomtest

    base_by_id = {r["id"]: r for r in base}
    missing = [r["id"] for r in other if r["id"] not in base_by_id]
    if missing or len(base_by_id) != len(other):
        raise ValueError(f"paired comparison needs the same examples in both ({len(base_by_id)} vs {len(other)}; e.g. {missing[:3]})")
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    cases: dict[str, list[tuple[float, float]]] = {"all": [], "changed": [], "unchanged": []}
    for r in other:
        pair = (base_by_id[r["id"]][metric], r[metric])
        cases["all"].append(pair)
        if "changed" in r:
            cases["changed" if r["changed"] else "unchanged"].append(pair)
    out = {}
    for case, pairs in cases.items():
        if not pairs:
            continue
        wins = sum(sign * (o - b) > 0 for b, o in pairs)
        losses = sum(sign * (o - b) < 0 for b, o in pairs)
        p_value = binomtest(wins, wins + losses).pvalue if wins + losses else 1.0
        mean_difference = sum(o - b for b, o in pairs) / len(pairs)
        out[case] = {"examples": len(pairs), "wins": wins, "losses": losses, "p_value": p_value, "mean_difference": mean_difference}
    return out


def format_paired(name: str, base_name: str, comparison: dict[str, dict], mean: bool = False) -> str:
    """One line: `rl vs mle: changed +6 / -5 (p 1.00), ...` (wins / losses on the same examples; with
    `mean`, the mean difference other - base too, for a metric that is not 0/1)."""
    parts = [f"{case} +{c['wins']} / -{c['losses']} (p {c['p_value']:.2f}" + (f", mean {c['mean_difference']:+.4g})" if mean else ")") for case, c in comparison.items()]
    return f"{name} vs {base_name}: " + ", ".join(parts)


def format_table(summary: dict) -> str:
    width = max(len(k) for k in summary)
    return "\n".join(f"{k:<{width}}  {v:.4f}" if isinstance(v, float) else f"{k:<{width}}  {v}" for k, v in summary.items())


def format_side_by_side(summaries: dict[str, dict]) -> str:
    """One row per numeric metric, one column per model."""
    names = list(summaries)
    keys = [k for k, v in summaries[names[0]].items() if isinstance(v, (int, float))]
    width = max(len(k) for k in keys)
    lines = [f"{'':<{width}}" + "".join(f"{n:>14}" for n in names)]
    for key in keys:
        lines.append(f"{key:<{width}}" + "".join(f"{summaries[n].get(key, float('nan')):>14.4f}" for n in names))
    return "\n".join(lines)


def score_main(argv: list[str] | None = None, prog: str = "rlvr score") -> int:
    """`rlvr score`: score a predictions file against a dataset and print the paper's metrics."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", default="text_game", help="world (domain) of the dataset: text_game or web")
    p.add_argument("--data", required=True, help="dataset file (.jsonl or .zip)")
    p.add_argument("--predictions", required=True, help="JSONL of {id, prediction}")
    p.add_argument("--rules-dir", default=None, help="folder of the game rules (only affects prompts, not scores)")
    p.add_argument("--verifier", default=None, help="verifier name or module:function (default: the world's)")
    p.add_argument("--out", default=None, help="write the summary and per-sample results to this JSON file")
    args = p.parse_args(argv)
    start = time.perf_counter()
    settings = {"test_path": args.data, **({"rules_dir": args.rules_dir} if args.rules_dir else {})}
    try:
        world = get_world(WorldConfig.model_validate({"name": args.world, args.world: settings}))
    except (ValidationError, KeyError) as err:
        print(f"error: --world {args.world}: scoring a file takes a text world (text_game, web): {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    try:
        examples = world.examples("test")
        predictions = load_predictions(args.predictions, examples)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary, records = score_examples(examples, predictions, args.verifier or world.verifier)
    summary["seconds"] = round(time.perf_counter() - start, 3)
    print(format_table(summary))
    if args.out:
        Path(args.out).write_text(json.dumps({"summary": summary, "samples": records}, indent=1))
        print(f"saved {args.out}")
    return 0


def compare_main(argv: list[str] | None = None, prog: str = "rlvr compare") -> int:
    """`rlvr compare`: print the paired comparison of two results files."""
    c = argparse.ArgumentParser(prog=prog, description="Compare two models on the same examples: wins, losses, sign test.")
    c.add_argument("base", help="results of the base model: an eval_<model>.json of a run, or a `rlvr score --out` file")
    c.add_argument("other", help="results of the other model, on the same examples")
    c.add_argument("--metric", default="exact_match", help=f"a numeric per-example metric of the records (default exact_match; lower is better for {', '.join(sorted(LOWER_IS_BETTER))})")
    args = c.parse_args(argv)
    base_path, other_path, metric = args.base, args.other, args.metric
    try:
        base, other = (json.loads(Path(path).read_text())["samples"] for path in (base_path, other_path))
        if any(metric not in r for r in base + other):
            raise ValueError(f"--metric {metric}: not in every record of {base_path} and {other_path}")
        comparison = paired_comparison(base, other, metric)
        binary = all(r[metric] in (0, 1) for r in base + other)
    except (OSError, KeyError, TypeError, ValueError) as err:
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    print(format_paired(*(Path(path).stem.removeprefix("eval_") for path in (other_path, base_path)), comparison, mean=not binary))
    return 0
