"""The dataset world: a user's own transitions, scored by any verifier (`rewards.verifier`, a registered
name or `module:function`), with no change to the project.

Rows come from JSONL (one JSON object per line) or Parquet files, one file per split
(world.dataset.train_path / validation_path / test_path). Each row holds a prompt (text), a reference
(any JSON value: what the verifier gets beside the prediction) and an answer (the MLE target text),
under the field names the config gives; optionally an id and a boolean `changed` flag (which enables
the paper's RL mix and the changed / unchanged split of metrics). A row that lacks a field, or has
one of the wrong type, is reported with its file, line (or Parquet row) and the config field.
"""

from __future__ import annotations

from pathlib import Path

from worlds.config import DatasetConfig, WorldConfig
from worlds.registry import DatasetError, Example, parse_jsonl, register_world

SPLITS = ("train", "validation", "test")


def read_rows(path: str) -> list[tuple[str, dict]]:
    """(location, row) of every row of a .jsonl or .parquet file."""
    file = Path(path)
    if not file.is_file():
        raise DatasetError(f"{path}: file not found")
    if file.suffix == ".jsonl":
        rows = parse_jsonl(path, file.read_text().splitlines(), _object)
        return [(r["where"], r["row"]) for r in rows]
    if file.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(file)
        except Exception as err:  # pyarrow raises several types for a file that is not Parquet
            raise DatasetError(f"{path}: not a readable Parquet file ({err})") from None
        rows = table.to_pylist()
        if not rows:
            raise DatasetError(f"{path}: no rows")
        return [(f"{path}: row {i + 1}", row) for i, row in enumerate(rows)]
    raise DatasetError(f"{path}: expected a .jsonl or .parquet file")


def _object(row, where: str) -> dict:
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: a row must be a JSON object, got {type(row).__name__}")
    return {"row": row, "where": where}


def to_example(row: dict, where: str, cfg: DatasetConfig) -> Example:
    def field(key: str, config_field: str, kind: type | tuple | None = None):
        if key not in row:
            raise DatasetError(f"{where}: no field {key!r} (world.dataset.{config_field}); the row has {sorted(row)}")
        value = row[key]
        if kind is not None and not isinstance(value, kind):
            raise DatasetError(f"{where}: field {key!r} (world.dataset.{config_field}) must be {getattr(kind, '__name__', kind)}, got {type(value).__name__}")
        return value

    prompt = field(cfg.prompt_field, "prompt_field", str)
    if not prompt.strip():
        raise DatasetError(f"{where}: field {cfg.prompt_field!r} (world.dataset.prompt_field) is empty")
    meta = {"line": where}
    if cfg.changed_field is not None:
        meta["changed"] = field(cfg.changed_field, "changed_field", bool)
    return Example(
        id=str(field(cfg.id_field, "id_field")) if cfg.id_field else where,
        prompt=prompt,
        reference=field(cfg.reference_field, "reference_field"),
        answer=field(cfg.answer_field, "answer_field", str),
        meta=meta,
    )


@register_world("dataset")
class DatasetWorld:
    """Your own transitions in files; the verifier is rewards.verifier (this world has none of its own)."""

    verifier = None

    def __init__(self, config: WorldConfig, workdir: str | None = None):
        self.cfg = config.dataset

    def examples(self, split: str) -> list[Example]:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        path = getattr(self.cfg, f"{split}_path")
        if not path:
            raise DatasetError(f"world.dataset.{split}_path: the {split} split is read, but no file is given (.jsonl or .parquet)")
        examples = [to_example(row, where, self.cfg) for where, row in read_rows(path)]
        if len({e.id for e in examples}) < len(examples):
            raise DatasetError(f"{path}: ids (world.dataset.id_field = {self.cfg.id_field!r}) are not unique")
        return examples

    def rl_unchanged_per_changed(self, verifier: str) -> float | None:
        if self.cfg.rl_unchanged_per_changed is not None and self.cfg.changed_field is None:
            raise DatasetError("world.dataset.rl_unchanged_per_changed needs world.dataset.changed_field (which rows change the state)")
        return self.cfg.rl_unchanged_per_changed
