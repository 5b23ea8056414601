"""The job config: each package's settings composed into one typed tree, read from YAML + overrides.

    load_config("configs/tiny_text_game.yaml", ["rl.lr=1e-5", "rollout.count=2"])

YAML and dotted `key=value` overrides are parsed with OmegaConf (values are YAML scalars / lists);
the merged tree is validated by pydantic. Unknown keys, wrong types and out-of-range values raise
ConfigError naming the field and where it came from (the file or the command line), before anything
starts; then `check` resolves what the types cannot say (the verifier, the model folder, batch sizes
that must fit the learner ranks), so `--check` and a run's first second name every such field.
`describe()` lists every field with its type, default and description (for --help).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from learner.config import LearnerConfig
from learner.tiny import TinyModelConfig
from rewards.config import RewardConfig
from rollout.config import RolloutConfig
from worlds.config import WorldConfig

Stage = Literal["mle", "rl", "eval"]


class RunConfig(BaseModel):
    """What the job is and where it writes: the stages, the starting model, the cluster settings."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("tiny_text_game", min_length=1, description="Run name; the run directory is output_dir/name")
    output_dir: str = Field("runs", description="Parent folder of run directories")
    model: str = Field("tiny", description="Starting model: a Hugging Face folder, or 'tiny' to build a tiny model from scratch")
    stages: list[Stage] = Field(default_factory=lambda: ["mle", "rl", "eval"], min_length=1, description="Stages to run, in order")
    seed: int = Field(0, description="Seed of the job (sampling order, initialisation)")
    dashboard: bool = Field(True, description="Start the Ray dashboard (on 127.0.0.1) with the local cluster a run starts when it has no cluster address; its URL is printed")
    worker_logs: Literal["file", "console"] = Field("file", description="Where the actors' output (vLLM, DeepSpeed, Ray workers) goes: file = <run dir>/logs/<actor>.log, console = mixed into the job's output")
    start_timeout_s: float = Field(1800.0, gt=0.0, description="How long the job's actors may take to be placed and start (an autoscaler adding nodes included) before the job fails naming them")
    check_resources: bool = Field(True, description="Before starting actors, fail when the roles ask for more CPUs / GPUs / custom resources than the cluster has or can autoscale to")
    tiny: TinyModelConfig = Field(default_factory=TinyModelConfig, description="Size of the model built when model='tiny'")


class MLEConfig(BaseModel):
    """The mle stage: supervised training on the reference answers (the warm start before RL)."""

    model_config = ConfigDict(extra="forbid")

    epochs: float = Field(1.0, gt=0.0, description="Passes over the training split")
    lr: float = Field(1e-3, gt=0.0, description="AdamW learning rate (the schedule's first)")
    batch_size: int = Field(32, ge=1, description="Samples per update")
    lr_schedule: Literal["constant", "cosine"] = Field("constant", description="Learning rate over the stage: constant, or cosine decay from lr to lr * min_lr_ratio; a time-budgeted MLE stage (the demo's equal-time control) continues at the final lr")
    min_lr_ratio: float = Field(0.1, ge=0.0, le=1.0, description="Final / initial learning rate of the cosine schedule")


class RLConfig(BaseModel):
    """The rl stage: GRPO steps with the verifier's reward (the objective itself is learner.algorithm)."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(100, ge=1, description="GRPO steps")
    prompts_per_step: int = Field(128, ge=1, description="Prompts drawn per step, each sampled rollout.group_size times (paper text game: 128)")
    mini_batch_prompts: int = Field(64, ge=1, description="Prompts per optimiser update; one epoch over each step's batch")
    lr: float = Field(1e-6, gt=0.0, description="AdamW learning rate, constant, no warmup (paper text game: 1e-6)")
    mode: Literal["sync", "async"] = Field("sync", description="sync: each step is generated with the weights of the step before (on-policy); async: the rollout pool generates the next step while the learner trains this one")
    max_staleness: int = Field(1, ge=0, description="Async mode: a sample trains at most this many weight versions after the one that generated it (0 = sync)")
    checkpoint_every: int = Field(10, ge=1, description="Steps between checkpoints (the run resumes from the last one)")
    keep_checkpoints: int = Field(2, ge=1, description="Checkpoints kept (the newest; an older one is used when the newest is torn or corrupt)")
    max_learner_restarts: int = Field(3, ge=0, description="Times the learner group may be re-created from the newest checkpoint after a rank died, before the run fails")


class EvalConfig(BaseModel):
    """The eval stage: held-out metrics of every model the run produced (`rlvr eval` runs it alone)."""

    model_config = ConfigDict(extra="forbid")

    split: Literal["validation", "test"] = Field("test", description="Split the stage scores")
    max_examples: int | None = Field(None, ge=1, description="Cap on evaluated examples (unset = the whole split)")
    modes: list[Literal["greedy", "sampled"]] = Field(default_factory=lambda: ["greedy"], min_length=1, description="Decodings each model is scored with (sampled: as the paper's video eval)")
    temperature: float = Field(1.0, gt=0.0, description="Temperature of the 'sampled' mode (paper video eval: 1.0)")
    top_k: int = Field(100, ge=-1, description="Top-k of the 'sampled' mode (paper video eval: 100; -1 = off)")
    best_of: list[int] = Field(default_factory=list, description="Best-of-N evaluation (paper Fig. 4): for each N, every example scored by the best of N sampled predictions (temperature / top_k), per model; empty = off")

    @field_validator("best_of")
    @classmethod
    def _positive(cls, ns: list[int]) -> list[int]:
        if any(n < 1 for n in ns):
            raise ValueError(f"every N must be >= 1, got {ns}")
        return ns


class JobConfig(BaseModel):
    """The whole job."""

    model_config = ConfigDict(extra="forbid")

    run: RunConfig = Field(default_factory=RunConfig, description="Run: stages, starting model, output, cluster")
    mle: MLEConfig = Field(default_factory=MLEConfig, description="The mle stage")
    rl: RLConfig = Field(default_factory=RLConfig, description="The rl stage")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="The eval stage")
    world: WorldConfig = Field(default_factory=WorldConfig, description="World (domain) and its data")
    rollout: RolloutConfig = Field(default_factory=RolloutConfig, description="Rollout workers (vLLM) and sampling")
    rewards: RewardConfig = Field(default_factory=RewardConfig, description="Reward workers and the verifier")
    learner: LearnerConfig = Field(default_factory=LearnerConfig, description="Learner ranks (DeepSpeed), optimiser and the GRPO objective")

    @model_validator(mode="after")
    def _fill_derived(self) -> "JobConfig":
        """Defaults that follow other fields: Dr. GRPO's constant is the generation budget."""
        if self.learner.algorithm.norm_tokens is None:
            self.learner.algorithm.norm_tokens = self.rollout.sampling.max_new_tokens
        return self


# Keys of earlier versions -> where they live now (a config that still uses one gets "renamed to ...").
RENAMED = {
    **{f"run.{old}": f"rl.{new}" for old, new in [("rl_steps", "steps"), ("prompts_per_step", "prompts_per_step"), ("mode", "mode"),
                                                   ("max_staleness", "max_staleness"), ("checkpoint_every", "checkpoint_every"),
                                                   ("keep_checkpoints", "keep_checkpoints"), ("max_learner_restarts", "max_learner_restarts")]},
    **{f"run.mle_{k}": f"mle.{k}" for k in ("epochs", "lr", "batch_size", "lr_schedule", "min_lr_ratio")},
    **{f"run.eval_{k}": f"eval.{k}" for k in ("split", "max_examples", "modes", "temperature", "best_of", "top_k")},
    "learner.lr": "rl.lr", "learner.mini_batch_prompts": "rl.mini_batch_prompts",
    "rollout.num_workers": "rollout.count", "rollout.cpus_per_worker": "rollout.cpus", "rollout.gpus_per_worker": "rollout.gpus",
    "rollout.threads_per_worker": "rollout.threads", "rewards.num_workers": "rewards.count", "rewards.cpus_per_worker": "rewards.cpus",
    "learner.num_ranks": "learner.count", "learner.cpus_per_rank": "learner.cpus", "learner.gpus_per_rank": "learner.gpus",
}


class ConfigError(ValueError):
    """A config that cannot be used; the message names the field and its source."""


def _known_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            keys += _known_keys(sub, prefix + name + ".")
    return keys


def _explain(err: ValidationError, source: str) -> ConfigError:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden" and key in RENAMED:
            lines.append(f"{source}: '{key}' was renamed to '{RENAMED[key]}'")
        elif e["type"] == "extra_forbidden":
            close = difflib.get_close_matches(key, _known_keys(JobConfig), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            lines.append(f"{source}: unknown field '{key}'{hint}")
        else:
            lines.append(f"{source}: field '{key}': {e['msg']} (got {e.get('input')!r})")
    return ConfigError("invalid config\n  " + "\n  ".join(lines))


def _parse_overrides(overrides: list[str]) -> Any:
    for arg in overrides:
        key, eq, _ = arg.partition("=")
        if not eq or not key or key.startswith("-"):
            raise ConfigError(f"command line: override {arg!r} must look like key=value (e.g. rl.lr=1e-5)")
    try:
        return OmegaConf.from_dotlist(list(overrides))
    except OmegaConfBaseException as err:
        raise ConfigError(f"command line: cannot parse overrides {overrides}: {err}") from None


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (), paths: bool = True) -> JobConfig:
    """Read a YAML config (optional), apply dotted overrides, validate, return the typed JobConfig.
    `paths=False` leaves out the checks of paths on this machine (a config for another cluster's nodes)."""
    base = OmegaConf.create({})
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            base = OmegaConf.load(path)
        except (OmegaConfBaseException, yaml.YAMLError) as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
        if not isinstance(OmegaConf.to_container(base), dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections (run, world, ...)")
        try:
            JobConfig.model_validate(OmegaConf.to_container(base, resolve=True))
        except ValidationError as err:
            raise _explain(err, str(path)) from None
    merged = OmegaConf.merge(base, _parse_overrides(list(overrides)))
    try:
        config = JobConfig.model_validate(OmegaConf.to_container(merged, resolve=True))
    except ValidationError as err:
        raise _explain(err, "command line override") from None
    problems = check(config, paths)
    if problems:
        raise ConfigError("invalid config\n  " + "\n  ".join(problems))
    return config


def check(cfg: JobConfig, paths: bool = True) -> list[str]:
    """What the fields' types cannot say, one line per problem naming the field: names that must
    resolve (the verifier), paths that must exist (the model folder), and fields that must agree
    (every mini-batch feeds every learner rank). Fast: nothing is started or loaded."""
    from rewards.registry import get_verifier, verifier_names

    problems = []
    if cfg.rewards.verifier:
        try:
            get_verifier(cfg.rewards.verifier)
        except KeyError as err:
            problems.append(f"rewards.verifier: {err.args[0]}")
    elif cfg.world.name == "dataset":
        problems.append(f"rewards.verifier: world 'dataset' has no verifier of its own: set it to one of {', '.join(verifier_names())} or 'module:function'")
    if paths and cfg.run.model != "tiny" and not (Path(cfg.run.model) / "config.json").is_file():
        problems.append(f"run.model: no Hugging Face model folder (with config.json) at {cfg.run.model!r}; give one, or 'tiny' to build a tiny model")
    ranks, group = cfg.learner.count, cfg.rollout.group_size
    if "rl" in cfg.run.stages:
        per_step, per_update = cfg.rl.prompts_per_step * group, cfg.rl.mini_batch_prompts * group
        smallest = min(min(per_update, per_step - a) for a in range(0, per_step, per_update))
        if smallest < ranks:
            problems.append(f"rl.mini_batch_prompts: a step's {cfg.rl.prompts_per_step} prompts x {group} samples (rollout.group_size) in mini-batches "
                            f"of {cfg.rl.mini_batch_prompts} prompts leave a mini-batch of {smallest} samples for learner.count = {ranks} ranks")
    if "mle" in cfg.run.stages and cfg.mle.batch_size < ranks:
        problems.append(f"mle.batch_size: {cfg.mle.batch_size} samples per update cannot feed learner.count = {ranks}")
    return problems


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return "|".join(str(a) for a in get_args(annotation))
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def describe(model: type[BaseModel] = JobConfig, prefix: str = "") -> list[str]:
    """One line per field: dotted key, type, default, description (nested sections expanded)."""
    lines = []
    for name, field in model.model_fields.items():
        key, sub = prefix + name, field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            lines.append(f"[{key}] {field.description}")
            lines += describe(sub, key + ".")
        else:
            default = field.get_default(call_default_factory=True)
            lines.append(f"  {key} ({_type_name(sub)}, default {default!r}): {field.description}")
    return lines


def reference_tables(model: type[BaseModel] = JobConfig, prefix: str = "") -> str:
    """The configuration reference as Markdown, one table per section (the docs site builds its
    configuration page from this, so the page cannot drift from the code)."""
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|")

    rows, sections = [], []
    for name, field in model.model_fields.items():
        key, sub = prefix + name, field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            sections.append(f"#{'#' * key.count('.')}## `{key}`\n\n{field.description}\n\n{reference_tables(sub, key + '.')}")
        else:
            default = field.get_default(call_default_factory=True)
            rows.append(f"| `{key}` | `{cell(_type_name(sub))}` | `{cell(repr(default))}` | {cell(field.description)} |")
    table = "| field | type | default | description |\n|---|---|---|---|\n" + "\n".join(rows) + "\n\n" if rows else ""
    return table + "\n".join(sections)


def to_yaml(config: JobConfig) -> str:
    return OmegaConf.to_yaml(OmegaConf.create(config.model_dump(mode="json")))
