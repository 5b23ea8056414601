"""The video world: PushT episodes, splits by episode, the token layout, windows, plans and errors."""

import numpy as np
import pytest

from tests.conftest import SHARED_DATA, require
from worlds.config import FrameTokenizerConfig, VideoConfig, WorldConfig
from worlds.registry import get_world
from worlds.video.episodes import Episode, EpisodeError, save_episode
from worlds.video.pusht import generate_pusht_episodes
from worlds.video.tokenizer import FrameTokenizer
from worlds.video.world import TokenLayout

SMALL_TOKENIZER = FrameTokenizerConfig(levels=[5, 5, 5], image_size=[16, 16], downsample=2, channels=8)  # 4x4 = 16 tokens


def test_pusht_episodes_are_deterministic_and_move():
    a, b = generate_pusht_episodes(2, 12, seed=3), generate_pusht_episodes(2, 12, seed=3)
    assert all(np.array_equal(x.frames, y.frames) and np.array_equal(x.actions, y.actions) for x, y in zip(a, b))
    assert a[0].frames.shape == (13, 96, 96, 3) and a[0].actions.shape == (12, 2)
    assert (a[0].actions >= 0).all() and (a[0].actions <= 512).all()
    assert not np.array_equal(a[0].frames[0], a[0].frames[-1])  # the scripted policy moves things
    assert not np.array_equal(generate_pusht_episodes(1, 12, seed=4)[0].frames, a[0].frames)


def test_action_bins_are_uniform_per_dimension():
    layout = TokenLayout(codebook_size=100, tokens_per_frame=4, action_low=(0.0, -1.0), action_high=(512.0, 1.0), action_bins=256)
    assert layout.action_tokens(np.array([0.0, -1.0])) == [100, 100 + 256]
    assert layout.action_tokens(np.array([256.0, 0.0])) == [100 + 128, 100 + 256 + 128]
    assert layout.action_tokens(np.array([512.0, 5.0])) == [100 + 255, 100 + 256 + 255]  # clipped to the last bin
    assert layout.special_ids == {"bos": 612, "eos": 613, "pad": 614} and layout.vocab_size == 615


@pytest.fixture
def npz_world(tmp_path):
    """Eight own-format episodes of 6 random 16x16 frames and 3-d actions, with an (untrained) tokenizer."""
    rng = np.random.default_rng(0)
    for e in range(8):
        save_episode(tmp_path / f"ep{e}.npz", Episode(f"ep{e}", rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8), rng.normal(size=(5, 3)).astype(np.float32)))
    FrameTokenizer(SMALL_TOKENIZER).save(tmp_path / "tok")

    def make(**video):
        cfg = VideoConfig(source="npz", episodes_dir=str(tmp_path), tokenizer_path=str(tmp_path / "tok"), test_episodes=2, **video)
        return get_world(WorldConfig(name="video", video=cfg))

    return make


def test_windows_layout_and_plan(npz_world):
    world = npz_world(context_frames=2, horizon=3)
    L = world.layout
    assert (L.codebook_size, L.tokens_per_frame, L.action_dims) == (125, 16, 3) and world.vocab_size == 125 + 3 * 256 + 3
    train, test = world.examples("train"), world.examples("test")
    assert {e.id.split("/")[1] for e in train}.isdisjoint({e.id.split("/")[1] for e in test})  # whole episodes held out
    assert len(train) == 5 * (6 - 5 + 1) and len(test) == 2 * 2
    ex = train[0]
    episode = world.splits["train"][0]
    tokens = world.tokenizer.encode(episode.frames)
    acts = [L.action_tokens(a) for a in episode.actions]
    # prompt: <bos> f0 a0 f1 a1; response: f2 a2 f3 a3 f4, actions masked out of the loss
    assert ex.prompt_ids == [L.bos, *tokens[0], *acts[0], *tokens[1], *acts[1]]
    assert ex.answer_ids == [*tokens[2], *acts[2], *tokens[3], *acts[3], *tokens[4]]
    assert ex.answer_mask == [1] * 16 + [0] * 3 + [1] * 16 + [0] * 3 + [1] * 16
    assert ex.plan.generate == 16 and ex.plan.append == (tuple(acts[2]), tuple(acts[3])) and ex.plan.allowed == (0, 125)  # frame codes only
    assert np.array_equal(ex.reference["frames"], episode.frames[2:5])
    # the true answer is what the verifier reads back as frames
    from worlds.video.frames import frame_tokens

    decoded, err = frame_tokens(ex.answer_ids, 16, 3, 3, L.codebook_size)
    assert err is None and np.array_equal(decoded, tokens[2:5])


def test_bad_episode_sources_name_the_problem(npz_world, tmp_path):
    with pytest.raises(EpisodeError, match="fewer than context_frames \\+ horizon = 7 frames"):
        npz_world(context_frames=4, horizon=3)
    with pytest.raises(EpisodeError, match="cannot hold out"):
        npz_world(validation_episodes=6)
    with pytest.raises(EpisodeError, match="world.video.episodes_dir: no .npz episodes"):
        get_world(WorldConfig(name="video", video=VideoConfig(source="npz", episodes_dir=str(tmp_path / "empty"), tokenizer_path=str(tmp_path / "tok"))))
    with pytest.raises(ValueError, match="world.video.tokenizer_path: required"):
        get_world(WorldConfig(name="video", video=VideoConfig(source="npz", episodes_dir=str(tmp_path))))
    with pytest.raises(FileNotFoundError, match="world.video.tokenizer_path: no frame tokenizer"):
        get_world(WorldConfig(name="video", video=VideoConfig(source="npz", episodes_dir=str(tmp_path), tokenizer_path=str(tmp_path / "none"), test_episodes=2)))


def test_real_metaworld_demos_as_a_world(tmp_path):
    FrameTokenizer(FrameTokenizerConfig(channels=8)).save(tmp_path / "tok")
    cfg = VideoConfig(source="metaworld", episodes_dir=str(require(SHARED_DATA / "video" / "metaworld")), tokenizer_path=str(tmp_path / "tok"),
                      test_episodes=4, context_frames=1, horizon=1, window_stride=50)
    world = get_world(WorldConfig(name="video", video=cfg))
    assert len(world.splits["train"]) == 15 and world.layout.action_dims == 4
    ex = world.examples("test")[0]
    assert len(ex.prompt_ids) == 1 + 64 + 4 and len(ex.answer_ids) == 64 and ex.plan.append == ()
