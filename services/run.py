"""A job run and its data: the run directory, world and verifier, the encoded examples, the starting model.

Shared by the stages (services/mle.py, rl.py, evaluation.py) and the demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.config import JobConfig
from worlds.registry import Example, WorldError


class RunDirError(OSError):
    """The run directory cannot be written; the message names the path and what to do."""


@dataclass
class Encoded:
    """An example with its token ids (text worlds: prompt with BOS, answer with EOS)."""

    example: Example
    prompt_ids: list[int]
    answer_ids: list[int]
    answer_mask: list[int] | None = None  # token worlds: 0 on given (not generated) answer tokens
    plan: dict | None = None  # token worlds: the interactive generation plan (rollout/worker.py)

    def mle_sample(self) -> dict:
        return {"prompt_ids": self.prompt_ids, "response_ids": self.answer_ids, **self.training_fields(self.answer_mask)}

    def training_fields(self, loss_mask: list[int] | None) -> dict:
        """The loss mask and, when the plan restricts sampling to an id range, that range (learner/batching.py)."""
        fields = {} if loss_mask is None else {"loss_mask": loss_mask}
        if self.plan and self.plan.get("allowed"):
            fields["allowed"] = self.plan["allowed"]
        return fields


def predictions(groups: list[dict], tokenizer) -> list:
    """What the verifier scores, per response of every group: the text, or the token ids (no tokenizer)."""
    ids = [r["response_ids"] for g in groups for r in g["responses"]]
    return tokenizer.batch_decode(ids, skip_special_tokens=True) if tokenizer is not None else ids


def warn_if_resuming_another_config(run_dir: Path, cfg: JobConfig) -> None:
    """A rerun resumes what the run directory holds (finished stages, RL checkpoints): say so when the
    run there was started with other settings, naming them, so a changed recipe is not mistaken for
    the old one (run.rl_steps may grow to train on)."""
    import yaml

    saved = run_dir / "config.yaml"
    if not saved.exists() or not ((run_dir / "stages.json").exists() or (run_dir / "checkpoints" / "state.json").exists()):
        return
    old, new = (_flat(d) for d in (yaml.safe_load(saved.read_text()) or {}, cfg.model_dump(mode="json")))
    differ = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k) and k != "run.rl_steps")
    if differ:
        print(f"warning: resuming {run_dir}, which was started with other values of {', '.join(differ)}; "
              f"its finished stages and checkpoints are reused. For a fresh run pass another run.name or remove {run_dir}", flush=True)


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def load_tokenizer(model_path: str):
    """The model's text tokenizer, or None for a token-id model (video)."""
    if not (Path(model_path) / "tokenizer_config.json").exists():
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_path)


class Run:
    """One job run: its directory (resolved config, metrics, checkpoints, models), world and verifier."""

    def __init__(self, cfg: JobConfig):
        from services.config import to_yaml
        from worlds.registry import get_world

        self.cfg = cfg
        self.dir = Path(cfg.run.output_dir) / cfg.run.name
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            warn_if_resuming_another_config(self.dir, cfg)
            (self.dir / "config.yaml").write_text(to_yaml(cfg))
        except OSError as err:
            raise RunDirError(f"run.output_dir: cannot write the run directory {self.dir} ({err.strerror}): choose a writable run.output_dir, or free space") from None
        self.metrics_path = self.dir / "metrics.jsonl"
        self.world = get_world(cfg.world, str(self.dir))
        self.control = None  # the job's JobControl actor (services/ctl.py), when the controller started one
        self.verifier = cfg.rewards.verifier or getattr(self.world, "verifier", None)
        if not self.verifier:
            raise WorldError(f"rewards.verifier: world {cfg.world.name!r} has no verifier of its own: set rewards.verifier to a registered name or 'module:function'")

    def rl_mix(self) -> float | None:
        """Unchanged transitions per changed one in the RL prompts (the world's option), None = the natural mix."""
        mix = getattr(self.world, "rl_unchanged_per_changed", None)
        return mix(self.verifier) if mix else None

    def split(self, name: str, tokenizer) -> list[Encoded]:
        """The encoded examples of a split (others than train: at most run.eval_max_examples, evenly spaced)."""
        data = self.encode(self.world.examples(name), tokenizer)
        cap = self.cfg.run.eval_max_examples
        if name == "train" or cap is None or len(data) <= cap:
            return data
        return [data[i * len(data) // cap] for i in range(cap)]

    def encode(self, examples: list[Example], tokenizer) -> list[Encoded]:
        """Token ids for each example; examples that leave no room for the response are reported and skipped."""
        out, skipped = [], 0
        for ex in examples:
            if ex.prompt_ids is not None:  # a token world: ids and plan come with the example
                item = Encoded(ex, ex.prompt_ids, ex.answer_ids, ex.answer_mask, vars(ex.plan) if ex.plan else None)
                response_len = len(ex.answer_ids)
            else:
                prompt = [tokenizer.bos_token_id] + tokenizer(ex.prompt)["input_ids"]
                item = Encoded(ex, prompt, tokenizer(" " + ex.answer)["input_ids"] + [tokenizer.eos_token_id])
                response_len = self.cfg.rollout.sampling.max_new_tokens
            if len(item.prompt_ids) + response_len > self.cfg.rollout.max_model_len:
                skipped += 1
                continue
            out.append(item)
        if skipped:
            print(f"note: skipped {skipped} of {len(examples)} examples that do not fit rollout.max_model_len = {self.cfg.rollout.max_model_len}")
        return out


def prepare_model(run: Run) -> str:
    """The starting model: a given Hugging Face folder, or a tiny one built from scratch (text worlds:
    with a BPE tokenizer trained on the train split; token worlds: over the world's vocabulary)."""
    if run.cfg.run.model != "tiny":
        if not Path(run.cfg.run.model).is_dir():
            raise FileNotFoundError(f"run.model: model folder not found: {run.cfg.run.model}")
        return run.cfg.run.model
    from learner.tiny import build_tiny_model, build_token_model

    out = run.dir / "tiny_init"
    if not (out / "config.json").exists():
        if getattr(run.world, "vocab_size", None) is not None:
            build_token_model(run.world.vocab_size, run.world.special_ids, out, run.cfg.run.tiny, seed=run.cfg.run.seed)
        else:
            texts = [ex.prompt + " " + ex.answer for ex in run.world.examples("train")]
            build_tiny_model(texts, out, run.cfg.run.tiny, seed=run.cfg.run.seed)
    return str(out)


def plans_of(data: list[Encoded]) -> list[dict] | None:
    return [e.plan for e in data] if data and data[0].plan is not None else None
