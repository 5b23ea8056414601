"""The eval stage: each model's predictions on a held-out split, scored by the world's verifier."""

from __future__ import annotations

import json

from services.run import Encoded, Run, plans_of, predictions


def evaluate(run: Run, models: dict[str, str], data: list[Encoded], tokenizer) -> dict[str, dict]:
    """Predictions of each model on `data` in each of run.eval_modes (greedy; sampled at
    run.eval_temperature / eval_top_k from the run's seed), scored with the world's verifier, saved as
    eval_<name>.json and printed side by side. Results are keyed by model name, with "@sampled" added
    in the sampled mode. A world with a `report` (video: strip images) gets every prediction."""
    from rewards.score import format_side_by_side, score_examples
    from rollout.pool import RolloutPool

    cfg = run.cfg
    temperature = {"greedy": 0.0, "sampled": cfg.run.eval_temperature}
    summaries, responses = {}, {}
    for mode in cfg.run.eval_modes:
        sampling = cfg.rollout.sampling.model_copy(update={"temperature": temperature[mode], "top_k": cfg.run.eval_top_k if mode == "sampled" else -1})
        for model, path in models.items():
            name = model if mode == "greedy" else f"{model}@{mode}"
            pool = RolloutPool(path, cfg.rollout.model_copy(update={"sampling": sampling}), seed=cfg.run.seed)
            try:
                groups = pool.generate([e.prompt_ids for e in data], n=1, plans=plans_of(data))
            finally:
                pool.shutdown()
            responses[name] = predictions(groups, tokenizer)
            summary, records = score_examples([e.example for e in data], {e.example.id: p for e, p in zip(data, responses[name])}, run.verifier)
            summaries[name] = {"model": path, **summary}
            (run.dir / f"eval_{name}.json").write_text(json.dumps({"summary": summaries[name], "samples": records}, indent=1))
    modes = ", ".join(m if m == "greedy" else f"sampled at temperature {cfg.run.eval_temperature}, top-k {cfg.run.eval_top_k}" for m in cfg.run.eval_modes)
    print(f"== evaluation ({len(data)} {cfg.run.eval_split} examples; {modes}) ==\n{format_side_by_side(summaries)}")
    if hasattr(run.world, "report"):
        print(f"saved {run.world.report(run.dir, [e.example for e in data], responses)}")
    return summaries
