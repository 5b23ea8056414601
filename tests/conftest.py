"""Shared test helpers: where the real data lives (../shared/data beside the project), and the test tiers.

Tiers (markers, set here by path and fixture; `--strict-markers` rejects any other):
- unit: no Ray, no engines, no browser: seconds each (`make test-fast`);
- integration: one real component outside a job: a Ray cluster, a vLLM engine, chromium, long fuzzing;
- e2e: tests/e2e, the real stack running jobs;
- bench: tests/bench, the benchmarks' smoke runs (`make test-all` only); their reports' arithmetic is unit-tested
  there on canned results (modules marked `unit`).
A module may set `pytestmark = pytest.mark.integration`; otherwise a test that asks for the Ray cluster
fixture is integration, and the rest are unit.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
BYTESIZED32_TEST = SHARED_DATA / "bytesized32" / "test.zip"
BYTESIZED32_RULES = SHARED_DATA / "bytesized32" / "rules"
SHM = Path("/dev/shm")
RLVR = str(Path(sys.executable).with_name("rlvr"))  # the console script `pip install` puts beside the interpreter


TIERS = ("unit", "integration", "e2e", "bench")
REAL_DATA_SKIP = "real data not found"


def pytest_collection_modifyitems(config, items):
    for item in items:
        folder = Path(str(item.fspath)).relative_to(ROOT / "tests").parts[0]
        if folder == "e2e" or (folder == "bench" and not item.get_closest_marker("unit")):
            item.add_marker(folder)
        elif not any(item.get_closest_marker(tier) for tier in TIERS):
            item.add_marker("integration" if "ray_cluster" in getattr(item, "fixturenames", ()) else "unit")


def pytest_terminal_summary(terminalreporter):
    """One line for the tests that need the real data beside the project (and why they were skipped)."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if REAL_DATA_SKIP in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(f"{len(skipped)} real-data tests skipped: {REAL_DATA_SKIP} at {SHARED_DATA} (the data lives beside the project, not in it)")


def require(path: Path) -> Path:
    """Skip (with the reason) when a real-data file is absent, e.g. on a user's machine."""
    if not path.exists():
        pytest.skip(f"{REAL_DATA_SKIP} at {path} (it lives in ../shared/data beside the project)")
    return path


@pytest.fixture(scope="session")
def bytesized32_rows():
    from worlds.text_game.data import load_rows

    return load_rows(require(BYTESIZED32_TEST))


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray cluster bound to 127.0.0.1, stopped (and its temp dir removed) at the end."""
    import ray

    temp_dir = tempfile.mkdtemp(prefix="rlvr-ray-", dir="/tmp")  # short path: Ray's socket names must fit
    shm_before = set(os.listdir(SHM)) if SHM.exists() else set()
    # workers' temp files (vLLM's /tmp/vllm_dist_* init files) go to the cluster's temp dir, removed below: the
    # raylet starts with TMPDIR there, so the workers of other drivers attached to this cluster (a test's `rlvr train`) too
    tempfile.gettempdir()  # (this process keeps its own: the value is cached on first use)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TMPDIR", temp_dir)
        ray.init(num_cpus=4, include_dashboard=False, _node_ip_address="127.0.0.1", _temp_dir=temp_dir, log_to_driver=False,
                 runtime_env={"env_vars": {"TMPDIR": temp_dir, "RLVR_NODE_ADDRESS": "127.0.0.1"}})
    yield ray
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)
    # DeepSpeed's CPU ranks leave /dev/shm/deepspeed_* buffers behind: remove the ones this session created
    for name in set(os.listdir(SHM)) - shm_before if SHM.exists() else ():
        if name.startswith("deepspeed"):
            (SHM / name).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def metaworld_frames():
    """(train, held-out) uint8 frames of real Metaworld demos: 19 demos for training, the last one held out."""
    import numpy as np

    from worlds.video.episodes import load_metaworld_demo

    demos = sorted(require(SHARED_DATA / "video" / "metaworld").glob("*.npz"))
    train = np.concatenate([load_metaworld_demo(d, 0).frames[::4] for d in demos[:-1]])
    return train, load_metaworld_demo(demos[-1], 0).frames[::10]


@pytest.fixture(scope="session")
def metaworld_tokenizer(metaworld_frames):
    """An FSQ frame tokenizer (paper levels 7,5,5,5,5) trained on CPU for 200 steps of 16 frames (~20 s) on real frames (held-out PSNR ~25 dB)."""
    from worlds.config import FrameTokenizerConfig
    from worlds.video.tokenizer import train_frame_tokenizer

    return train_frame_tokenizer(metaworld_frames[0], FrameTokenizerConfig(channels=32), steps=200, batch_size=16, lr=3e-3)


WEB_TASKS = ["click-tab", "enter-text", "choose-list"]  # tabs (items appear / vanish), a text field, a native <select>


@pytest.fixture(scope="session")
def web_recording(ray_cluster, tmp_path_factory):
    """Real MiniWoB++ transitions recorded in chromium by 2 browsers (Ray tasks on the test cluster), as
    `rlvr data record-web` records them: WEB_TASKS x 3 episodes of up to 3 actions; (the result, its JSONL file).
    The recorder's tests check it; the web job trains on it."""
    from worlds.web.recorder import record, write_jsonl

    result = record(WEB_TASKS, episodes=3, steps=3, seed=0, workers=2, progress=False)
    path = tmp_path_factory.mktemp("web") / "recording.jsonl"
    write_jsonl(result["rows"], path)
    return result, path
