"""Checkpoint bookkeeping: atomic saves, the last K kept, torn or corrupt checkpoints reported and skipped.
The learner here is a stand-in that writes and reads files (the real DeepSpeed path: tests/e2e/test_faults.py)."""

import json
from pathlib import Path

import pytest
from ray.exceptions import RayTaskError

from services.checkpoints import CheckpointError, Checkpoints


class FileLearner:
    """Writes one file per rank under directory/tag, as DeepSpeed does, and loads what is there."""

    def __init__(self):
        self.loaded = None

    def save_checkpoint(self, directory: str, tag: str) -> None:
        path = Path(directory) / tag
        path.mkdir(parents=True)
        (path / "model_states.pt").write_bytes(b"w" * 100)
        (path / "optim_states.pt").write_bytes(b"o" * 200)
        (Path(directory) / "latest").write_text(tag)

    def load_checkpoint(self, directory: str, tag: str) -> None:
        if (Path(directory) / tag / "model_states.pt").read_bytes().startswith(b"bad"):
            raise RayTaskError("load_checkpoint", "Traceback ...\nRuntimeError: unpickling error", RuntimeError("unpickling error"))
        self.loaded = tag


def test_saves_are_complete_and_only_the_last_k_are_kept(tmp_path):
    ckpts = Checkpoints(tmp_path / "checkpoints", keep=2)
    learner = FileLearner()
    assert ckpts.load(learner) == 0 and learner.loaded is None  # nothing yet: start from the model
    for step in (2, 4, 6):
        ckpts.save(learner, step)
    state = json.loads((tmp_path / "checkpoints" / "state.json").read_text())
    assert state["tags"] == ["step4", "step6"] and state["step"] == 6
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["state.json", "step4", "step6"]  # no staging dirs left
    assert ckpts.problem("step6") is None
    assert ckpts.load(learner) == 6 and learner.loaded == "step6"


def test_a_torn_checkpoint_is_reported_by_path_and_the_previous_one_used(tmp_path, caplog):
    ckpts = Checkpoints(tmp_path, keep=3)
    learner = FileLearner()
    for step in (1, 2, 3):
        ckpts.save(learner, step)
    (tmp_path / "step3" / "optim_states.pt").write_bytes(b"o" * 50)  # torn: fewer bytes than written
    (tmp_path / "step2" / "model_states.pt").write_bytes(b"bad" + b"w" * 97)  # same size, but the learner cannot load it
    assert ckpts.load(learner) == 1 and learner.loaded == "step1"
    out = caplog.text
    assert f"{tmp_path / 'step3' / 'optim_states.pt'} has 50 bytes, 200 were written" in out
    assert f"checkpoint {tmp_path / 'step2'} is unusable (the learner could not load it: RuntimeError: unpickling error)" in out


def test_no_usable_checkpoint_is_an_error_naming_them_and_what_to_do(tmp_path):
    ckpts = Checkpoints(tmp_path, keep=2)
    ckpts.save(FileLearner(), 5)
    (tmp_path / "step5" / "model_states.pt").unlink()
    with pytest.raises(CheckpointError, match=rf"tried {tmp_path / 'step5'}\): delete {tmp_path} to start the RL stage over"):
        ckpts.load(FileLearner())
    (tmp_path / "state.json").write_text('{"step": 5, "ta')  # torn state file (never written so, but a disk can lie)
    with pytest.raises(CheckpointError, match="state.json: not valid JSON"):
        ckpts.load(FileLearner())


def test_a_full_disk_leaves_the_previous_checkpoint_in_force(tmp_path):
    from services.run import RunDirError

    ckpts = Checkpoints(tmp_path, keep=2)
    ckpts.save(FileLearner(), 1)
    (tmp_path / ".state.json.tmp").symlink_to("/dev/full")  # every write to it fails: "No space left on device"
    with pytest.raises(RunDirError, match=rf"cannot write checkpoint step2 under {tmp_path} \(No space left on device\); checkpoint step1 is still in force"):
        ckpts.save(FileLearner(), 2)
    assert json.loads((tmp_path / "state.json").read_text())["tag"] == "step1"
    (tmp_path / ".state.json.tmp").unlink()
    learner = FileLearner()
    assert ckpts.load(learner) == 1 and learner.loaded == "step1"
