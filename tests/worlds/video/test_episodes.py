"""Episodes: the documented on-disk format and the recorded samples in ../shared/data/video."""

import numpy as np
import pytest

from tests.conftest import SHARED_DATA, require
from worlds.video.episodes import Episode, EpisodeError, load_bair_sample, load_episode, load_fractal_sample, load_metaworld_demo, save_episode

VIDEO = SHARED_DATA / "video"


def test_recorded_samples_load():
    bair = load_bair_sample(require(VIDEO / "bair_sample.npz"))
    assert bair.frames.shape == (30, 64, 64, 3) and bair.actions.shape == (30, 4)
    fractal = load_fractal_sample(require(VIDEO / "fractal_sample.npz"))
    assert fractal.frames.shape == (22, 256, 320, 3) and fractal.actions is None
    demos = sorted(require(VIDEO / "metaworld").glob("*.npz"))
    assert len(demos) == 20
    for camera in range(3):
        mw = load_metaworld_demo(demos[0], camera)
        assert mw.frames.shape == (101, 64, 64, 3) and mw.actions.shape == (101, 4)
    assert not np.array_equal(load_metaworld_demo(demos[0], 0).frames, load_metaworld_demo(demos[0], 1).frames)
    with pytest.raises(EpisodeError, match="camera"):
        load_metaworld_demo(demos[0], 3)


def test_own_format_round_trip_and_errors(tmp_path):
    ep = Episode("x", np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8), np.zeros((4, 2), np.float32))
    save_episode(tmp_path / "ep.npz", ep)
    back = load_episode(tmp_path / "ep.npz")
    assert np.array_equal(back.frames, ep.frames) and np.array_equal(back.actions, ep.actions)
    np.savez(tmp_path / "bad.npz", frames=np.zeros((5, 8, 8), np.uint8))
    with pytest.raises(EpisodeError, match=r"bad.npz: 'frames' must be uint8 \[T, H, W, 3\]"):
        load_episode(tmp_path / "bad.npz")
    np.savez(tmp_path / "noframes.npz", video=np.zeros((5, 8, 8, 3), np.uint8))
    with pytest.raises(EpisodeError, match="missing field 'frames'"):
        load_episode(tmp_path / "noframes.npz")
    np.savez(tmp_path / "acts.npz", frames=np.zeros((5, 8, 8, 3), np.uint8), actions=np.zeros((2, 2)))
    with pytest.raises(EpisodeError, match="'actions' must be"):
        load_episode(tmp_path / "acts.npz")
    with pytest.raises(EpisodeError, match="not found"):
        load_episode(tmp_path / "missing.npz")
