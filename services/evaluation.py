"""The eval stage: each model's predictions on a held-out split, scored by the world's verifier."""

from __future__ import annotations

import json

from tqdm import tqdm

from core.protocol import Prompt
from services.pipeline import sampling_seeds, scored_inputs
from services.run import Encoded, Pools, Run
from worlds.registry import BaselineWorld, ReportingWorld


def evaluate(run: Run, models: dict[str, str], data: list[Encoded], pools: Pools, best_of: list[str] | None = None) -> dict[str, dict]:
    """Predictions of each model on `data` in each of eval.modes (greedy; sampled at
    eval.temperature / eval.top_k from the run's seed), scored by the reward pool, saved as
    eval_<name>.json and printed side by side. One rollout pool serves every model (its weights swapped
    in place) and every decoding. Results are keyed by model name, with "@sampled" added in the
    sampled mode. A world with `baselines` (web: the "nothing changes" answer) has them scored
    alongside; a world with a `report` (video: strip images; web: sample texts) gets every prediction.
    An "rl" model is compared with each other model example by example (paired.json).
    With eval.best_of, the best-of-N curves of the models named in `best_of` (default: all)."""
    from rewards.registry import get_verifier
    from rewards.score import example_records, format_side_by_side, score_examples

    cfg = run.cfg
    summarize = get_verifier(run.verifier).summarize
    examples, references = [e.example for e in data], [e.example.reference for e in data]
    names = {(mode, model): model if mode == "greedy" else f"{model}@{mode}" for mode in cfg.eval.modes for model in models}
    summaries, responses, records_of = {}, {}, {}
    order = sorted(models, key=lambda m: models[m] != pools.serving)  # the model the workers hold first: one load fewer
    for model in tqdm(order, desc="evaluation", unit="model", disable=None):  # a bar on a terminal only
        rollout = pools.rollout(models[model])
        for mode in cfg.eval.modes:
            name = names[mode, model]
            groups = rollout.generate(prompts_of(data, cfg.run.seed, "eval"), n=1, sampling=eval_sampling(cfg, mode))
            responses[name] = [g.predictions()[0] for g in groups]
            results = pools.rewards().score(responses[name], references)
            records = example_records(examples, results)
            for record, response in zip(records, responses[name]):
                if isinstance(response, str):  # text worlds: the prediction beside its score (token worlds: see report)
                    record["prediction"] = response
            summaries[name], records_of[name] = {"model": models[model], **summarize(results)}, records
            (run.dir / f"eval_{name}.json").write_text(json.dumps({"summary": summaries[name], "samples": records}, indent=1))
    summaries = {names[key]: summaries[names[key]] for key in names}  # mode by mode, as printed
    if isinstance(run.world, BaselineWorld):  # fixed answers scored beside the models (web: "nothing changes")
        for name, answers in run.world.baselines(examples).items():
            summary, _ = score_examples(examples, {ex.id: a for ex, a in zip(examples, answers)}, run.verifier)
            summaries[name] = {"model": "fixed answer", **summary}
    modes = ", ".join(m if m == "greedy" else f"sampled at temperature {cfg.eval.temperature}, top-k {cfg.eval.top_k}" for m in cfg.eval.modes)
    print(f"== evaluation ({len(data)} {cfg.eval.split} examples; {modes}) ==\n{format_side_by_side(summaries)}")
    if "rl" in models and len(models) > 1:
        paired_with_rl(run, records_of)
    if isinstance(run.world, ReportingWorld):
        print(f"saved {run.world.report(run.dir, examples, {n: responses[n] for n in summaries if n in responses})}")
    if cfg.eval.best_of:
        best_of_n(run, {m: p for m, p in models.items() if best_of is None or m in best_of}, data, pools)
    return summaries


def eval_sampling(cfg, mode: str):
    """The rollout sampling of an eval mode: greedy, or sampled at eval.temperature / eval.top_k."""
    if mode == "greedy":
        return cfg.rollout.sampling.model_copy(update={"temperature": 0.0, "top_k": -1})
    return cfg.rollout.sampling.model_copy(update={"temperature": cfg.eval.temperature, "top_k": cfg.eval.top_k})


def prompts_of(data: list[Encoded], seed: int, key: str) -> list[Prompt]:
    """The eval prompts, each with a sampling seed of (seed, key, position)."""
    return [e.prompt(s) for e, s in zip(data, sampling_seeds(seed, key, len(data)))]


PAIRED_METRICS = ("exact_match", "lpips", "psnr", "repeated")  # compared example by example where every record holds them


def paired_with_rl(run: Run, records_of: dict[str, list[dict]]) -> dict[str, dict]:
    """The "rl" model against each other model in each eval mode, example by example (wins / losses,
    sign test, mean difference) on PAIRED_METRICS; printed and saved as paired.json, keyed
    "rl vs mle" / "rl@sampled vs mle@sampled" and then by metric."""
    from rewards.score import format_paired, paired_comparison

    paired = {}
    for name, other in records_of.items():
        model, at, mode = name.partition("@")
        rl = f"rl{at}{mode}"  # the rl model in the same eval mode
        if model == "rl" or rl not in records_of:
            continue
        metrics = [m for m in PAIRED_METRICS if all(m in r for r in other + records_of[rl])]
        paired[f"{rl} vs {name}"] = {m: paired_comparison(other, records_of[rl], m) for m in metrics}
    print("example by example (+ rl better, - the other better; exact sign-test p-value; mean difference rl - other):")
    for pair, by_metric in paired.items():
        for metric, comparison in by_metric.items():
            print(f"  {metric:<11} " + format_paired(*pair.split(" vs "), comparison, mean=metric != "exact_match"))
    (run.dir / "paired.json").write_text(json.dumps(paired, indent=1))
    return paired


HEADLINE = ("accuracy_overall", "accuracy_changed", "accuracy_unchanged", "f1", "f1_changed", "lpips_x100", "psnr", "reward_mean")


def best_of_curve(results: list[list], ns: list[int], summarize) -> dict[int, dict]:
    """For each N: the verifier's summary over the examples, each scored by the best (highest-reward)
    of its first N samples: the oracle that RLVR is compared with (paper Fig. 4)."""
    return {n: summarize([max(samples[:n], key=lambda r: r.reward) for samples in results]) for n in ns}


def best_of_n(run: Run, models: dict[str, str], data: list[Encoded], pools: Pools) -> dict[str, dict[int, dict]]:
    """Sample max(eval.best_of) predictions per example from each model (eval.temperature /
    eval.top_k), score them on the reward workers, and report the best-of-N curve of each model:
    printed, saved as best_of.json and drawn in best_of.png."""
    from rewards.registry import get_verifier

    cfg = run.cfg
    ns, k = sorted(set(cfg.eval.best_of)), max(cfg.eval.best_of)
    curves = {}
    for model, path in tqdm(models.items(), desc="best of N", unit="model", disable=None):
        groups = pools.rollout(path).generate(prompts_of(data, cfg.run.seed, "best_of"), n=k, sampling=eval_sampling(cfg, "sampled"))
        flat = pools.rewards().score(*scored_inputs(data, groups))
        curves[model] = best_of_curve([flat[i * k : (i + 1) * k] for i in range(len(data))], ns, get_verifier(run.verifier).summarize)
    keys = [key for key in HEADLINE if key in next(iter(curves.values()))[ns[0]]]
    print(f"== best of N ({len(data)} {cfg.eval.split} examples, sampled at temperature {cfg.eval.temperature}, top-k {cfg.eval.top_k}) ==")
    print(f"{'N':>4}" + "".join(f"{f'{m}: {key}':>34}" for m in curves for key in keys[:2]))
    for n in ns:
        print(f"{n:>4}" + "".join(f"{curves[m][n][key]:>34.4f}" for m in curves for key in keys[:2]))
    (run.dir / "best_of.json").write_text(json.dumps({m: {str(n): c for n, c in curve.items()} for m, curve in curves.items()}, indent=1))
    plot_best_of(curves, keys[0], run.dir / "best_of.png")
    return curves


def plot_best_of(curves: dict[str, dict[int, dict]], key: str, path) -> None:
    """The best-of-N curve of each model (x: N, log scale; y: `key`) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for model, curve in curves.items():
        ax.plot(list(curve), [c[key] for c in curve.values()], marker="o", label=model)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("N (samples per example, best kept by the verifier)")
    ax.set_ylabel(key)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
