"""Fixtures for end-to-end tests on the real stack: a local Ray cluster on 127.0.0.1 and a tiny model."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

SHM = Path("/dev/shm")


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray cluster bound to 127.0.0.1, stopped (and its temp dir removed) at the end."""
    import ray

    temp_dir = tempfile.mkdtemp(prefix="rlvr-ray-", dir="/tmp")  # short path: Ray's socket names must fit
    shm_before = set(os.listdir(SHM)) if SHM.exists() else set()
    ray.init(num_cpus=4, include_dashboard=False, _node_ip_address="127.0.0.1", _temp_dir=temp_dir, log_to_driver=False)
    yield ray
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)
    # DeepSpeed's CPU ranks leave /dev/shm/deepspeed_* buffers behind: remove the ones this session created
    for name in set(os.listdir(SHM)) - shm_before if SHM.exists() else ():
        if name.startswith("deepspeed"):
            (SHM / name).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny Qwen2 model + BPE tokenizer built from the built-in text-game prompts."""
    from learner.tiny import build_tiny_model
    from worlds.config import TextGameConfig, WorldConfig
    from worlds.registry import get_world

    world = get_world(WorldConfig(text_game=TextGameConfig(prompt_style="state_only", builtin_train_rows=200)))
    texts = [ex.prompt + ex.answer for ex in world.examples("train")]
    return str(build_tiny_model(texts, tmp_path_factory.mktemp("tiny_model")))
