"""A job run and its data: the run directory, world and verifier, the encoded examples, the starting model.

Shared by the stages (services/mle.py, rl.py, evaluation.py) and the demo.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from core.protocol import Plan, Prompt, Sample
from services.config import JobConfig
from worlds.registry import Example, MixedWorld, TokenWorld, WorldError

log = logging.getLogger(__name__)


class RunDirError(OSError):
    """The run directory cannot be written; the message names the path and what to do."""


@dataclass(frozen=True)
class Encoded:
    """An example with its token ids (text worlds: prompt with BOS, answer with EOS)."""

    example: Example
    prompt_ids: list[int]
    answer_ids: list[int]
    answer_mask: list[int] | None = None  # token worlds: 0 on given (not generated) answer tokens
    plan: Plan | None = None  # token worlds: the interactive generation plan (rollout/worker.py)

    @property
    def allowed(self) -> tuple[int, int] | None:
        """The id range the plan samples trained tokens from, if it restricts them."""
        return tuple(self.plan.allowed) if self.plan is not None and self.plan.allowed else None

    def mle_sample(self) -> Sample:
        return Sample(self.prompt_ids, self.answer_ids, self.answer_mask, self.allowed)

    def prompt(self, seed: int | None = None) -> Prompt:
        return Prompt(self.prompt_ids, self.plan, seed)


def warn_if_resuming_another_config(run_dir: Path, cfg: JobConfig) -> None:
    """A rerun resumes what the run directory holds (finished stages, RL checkpoints): say so when the
    run there was started with other settings, naming them, so a changed recipe is not mistaken for
    the old one (rl.steps may grow to train on)."""
    import yaml

    saved = run_dir / "config.yaml"
    if not saved.exists() or not ((run_dir / "stages.json").exists() or (run_dir / "checkpoints" / "state.json").exists()):
        return
    old, new = (_flat(d) for d in (yaml.safe_load(saved.read_text()) or {}, cfg.model_dump(mode="json")))
    differ = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k) and k != "rl.steps")
    if differ:
        log.warning("resuming %s, which was started with other values of %s; its finished stages and checkpoints are reused. "
                    "For a fresh run pass another run.name or remove %s", run_dir, ", ".join(differ), run_dir)


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
        self.verifier = cfg.rewards.verifier or self.world.verifier
        if not self.verifier:
            raise WorldError(f"rewards.verifier: world {cfg.world.name!r} has no verifier of its own: set rewards.verifier to a registered name or 'module:function'")

    def rl_mix(self) -> float | None:
        """Unchanged transitions per changed one in the RL prompts (the world's option), None = the natural mix."""
        return self.world.rl_unchanged_per_changed(self.verifier) if isinstance(self.world, MixedWorld) else None

    def split(self, name: str, tokenizer) -> list[Encoded]:
        """The encoded examples of a split (others than train: at most eval.max_examples, evenly spaced)."""
        data = self.encode(self.world.examples(name), tokenizer)
        cap = self.cfg.eval.max_examples
        if name == "train" or cap is None or len(data) <= cap:
            return data
        return [data[i * len(data) // cap] for i in range(cap)]

    def encode(self, examples: list[Example], tokenizer) -> list[Encoded]:
        """Token ids for each example; examples that leave no room for the response are reported and skipped."""
        out, skipped = [], 0
        for ex in examples:
            if ex.prompt_ids is not None:  # a token world: ids and plan come with the example
                item = Encoded(ex, ex.prompt_ids, ex.answer_ids, ex.answer_mask, ex.plan)
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
            log.warning("skipped %d of %d examples that do not fit rollout.max_model_len = %d", skipped, len(examples), self.cfg.rollout.max_model_len)
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
        if isinstance(run.world, TokenWorld):
            build_token_model(run.world.vocab_size, run.world.special_ids, out, run.cfg.run.tiny, seed=run.cfg.run.seed)
        else:
            texts = [ex.prompt + " " + ex.answer for ex in run.world.examples("train")]
            build_tiny_model(texts, out, run.cfg.run.tiny, seed=run.cfg.run.seed)
    return str(out)


class Pools:
    """The job's actors: the rollout and reward pools and the learner group, each started on first use and
    kept across stages (the RL stage's pools evaluate afterwards, its rollout workers already holding the
    RL weights; the RL stage trains on the MLE stage's learner ranks, reloaded); `close` stops them."""

    def __init__(self, run: Run):
        self.run = run
        self._rollout = self._rewards = self._learner = None
        self.serving: str | None = None  # the model folder whose weights the rollout workers hold (None: trained in place)

    def learner(self, model_path: str, config, lr: float, temperature: float = 1.0, old_logprobs: str = "recompute"):
        """A learner group (learner.count ranks) starting from `model_path` with these settings: the job's
        group reloaded in place (learner/group.py, LearnerGroup.reload), or a new one when there is none
        or the last one failed (a LearnerFailure stops its ranks)."""
        from learner.group import LearnerGroup

        cfg = self.run.cfg
        if self._learner is not None and self._learner.ranks:
            self._learner.reload(model_path, config, lr, temperature, old_logprobs)
        else:
            self._learner = LearnerGroup(model_path, config, lr, temperature, seed=cfg.run.seed, old_logprobs=old_logprobs,
                                         start_timeout_s=cfg.run.start_timeout_s)
        return self._learner

    def rollout(self, model_path: str | None = None):
        """The rollout pool, serving `model_path`'s weights when given (loaded in place if another model's are in it)."""
        from rollout.pool import RolloutPool

        cfg = self.run.cfg
        if self._rollout is None:
            self._rollout = RolloutPool(model_path, cfg.rollout, seed=cfg.run.seed, start_timeout_s=cfg.run.start_timeout_s)
            self.serving = model_path
        elif model_path is not None and model_path != self.serving:
            self._rollout.load_folder(self._rollout.version + 1, model_path)
            self.serving = model_path
        return self._rollout

    def rewards(self):
        from rewards.pool import RewardPool

        if self._rewards is None:
            cfg = self.run.cfg
            self._rewards = RewardPool(cfg.rewards, self.run.verifier, start_timeout_s=cfg.run.start_timeout_s)
        return self._rewards

    def close(self) -> None:
        for actors in (self._learner, self._rollout, self._rewards):
            if actors is not None:
                actors.shutdown()
        self._rollout = self._rewards = self._learner = None
