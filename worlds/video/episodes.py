"""Robot-manipulation episodes: frames and the actions between them.

On-disk format (bring your own RT-1-like data): one `.npz` file per episode with
- `frames`: uint8 array [T, H, W, 3] (RGB), and
- `actions`: float32 array [T - 1, A] or [T, A] (action t is taken after frame t), optional.
`save_episode` / `load_episode` read and write it; a malformed file is an error naming the file
and the field. Loaders for the recorded samples in ../shared/data/video convert them to Episodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


class EpisodeError(ValueError):
    """An episode file that cannot be used; the message names the file and the field."""


@dataclass
class Episode:
    name: str
    frames: np.ndarray  # uint8 [T, H, W, 3]
    actions: np.ndarray | None  # float32 [T - 1 or T, A]

    def __post_init__(self):
        f = self.frames
        if f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.uint8:
            raise EpisodeError(f"{self.name}: 'frames' must be uint8 [T, H, W, 3], got {f.dtype} {list(f.shape)}")
        if self.actions is not None:
            a = self.actions
            if a.ndim != 2 or a.shape[0] not in (len(f) - 1, len(f)):
                raise EpisodeError(f"{self.name}: 'actions' must be [T-1 or T, A] for T={len(f)} frames, got {list(a.shape)}")
            if not np.isfinite(a).all():
                raise EpisodeError(f"{self.name}: 'actions' holds NaN or inf")


def _to_uint8(frames: np.ndarray, where: str) -> np.ndarray:
    if frames.dtype != np.uint8:
        if frames.min() < 0 or frames.max() > 255:
            raise EpisodeError(f"{where}: frame values must lie in [0, 255]")
        frames = frames.astype(np.uint8)
    return frames


def save_episode(path: str | Path, episode: Episode) -> None:
    arrays = {"frames": episode.frames}
    if episode.actions is not None:
        arrays["actions"] = episode.actions.astype(np.float32)
    np.savez_compressed(path, **arrays)


def load_episode(path: str | Path) -> Episode:
    """An episode in the documented format."""
    path = Path(path)
    if not path.exists():
        raise EpisodeError(f"episode file not found: {path}")
    with np.load(path) as data:
        if "frames" not in data.files:
            raise EpisodeError(f"{path}: missing field 'frames' (has {data.files})")
        actions = data["actions"].astype(np.float32) if "actions" in data.files else None
        return Episode(str(path), _to_uint8(data["frames"], str(path)), actions)


def load_bair_sample(path: str | Path) -> Episode:
    """BAIR robot pushing sample: `image` [30, 64, 64, 3], `action` [30, 4]."""
    with np.load(path) as data:
        return Episode(str(path), _to_uint8(data["image"], str(path)), data["action"].astype(np.float32))


def load_fractal_sample(path: str | Path) -> Episode:
    """A real RT-1 (fractal) episode: `image` [22, 256, 320, 3], no actions."""
    with np.load(path) as data:
        return Episode(str(path), _to_uint8(data["image"], str(path)), None)


def load_metaworld_demo(path: str | Path, camera: int = 0) -> Episode:
    """A Metaworld expert demo: `observation` [T, 9, 64, 64] = 3 cameras x RGB channels-first, `action` [T, 4]."""
    with np.load(path) as data:
        obs = data["observation"]
        if not 0 <= camera < obs.shape[1] // 3:
            raise EpisodeError(f"{path}: camera must be in [0, {obs.shape[1] // 3}), got {camera}")
        frames = np.ascontiguousarray(obs[:, 3 * camera : 3 * camera + 3].transpose(0, 2, 3, 1))
        return Episode(f"{path}#camera{camera}", frames, data["action"].astype(np.float32))


def resize_frames(frames: np.ndarray, size: list[int] | tuple[int, int]) -> np.ndarray:
    """uint8 frames [T, H, W, 3] resized (area-averaged) to [T, size[0], size[1], 3]; a no-op at that size."""
    if list(frames.shape[1:3]) == list(size):
        return frames
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(f).resize((size[1], size[0]), Image.Resampling.BOX)) for f in frames])
