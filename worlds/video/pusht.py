"""PushT episodes (one of the paper's video datasets), rendered on CPU by the PyPI simulator gym-pusht.

A scripted policy pushes the T: the agent walks to a point beside the block and pushes through its
centre, with some random wandering, so the block moves in most episodes. Everything is deterministic
from the seed (the environment reset seed and the policy's random generator). Actions are the
agent's absolute target position in [0, 512]^2, as in PushT. Frames are the 96x96 pixel
observations, resized by the world to the tokenizer's frame size.
"""

from __future__ import annotations

import os

import numpy as np

from worlds.video.episodes import Episode

MAX_STEP_PX = 40.0  # how far the scripted target moves per step


def _policy_waypoint(rng: np.random.Generator, info: dict) -> np.ndarray:
    """A point to walk to: usually behind the block (to push it), sometimes anywhere on the table."""
    block = np.asarray(info["block_pose"][:2], dtype=np.float64)
    if rng.random() < 0.7:
        angle = rng.uniform(0, 2 * np.pi)
        return block + 30.0 * np.array([np.cos(angle), np.sin(angle)])
    return rng.uniform(80, 432, size=2)


def generate_pusht_episodes(num_episodes: int, steps: int, seed: int = 0) -> list[Episode]:
    """`num_episodes` episodes of `steps` actions (steps + 1 frames of 96x96), deterministic from `seed`."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame without a screen
    import gymnasium as gym
    import gym_pusht  # noqa: F401  (registers gym_pusht/PushT-v0)

    env = gym.make("gym_pusht/PushT-v0", obs_type="pixels", render_mode="rgb_array")
    episodes = []
    try:
        from tqdm import tqdm

        for e in tqdm(range(num_episodes), desc="PushT episodes", unit="episode", disable=None, leave=False):  # a bar on a terminal only
            rng = np.random.default_rng([seed, e])
            obs, info = env.reset(seed=int(rng.integers(2**31)))
            frames, actions = [obs], []
            target = np.asarray(info["pos_agent"], dtype=np.float64)
            waypoint = _policy_waypoint(rng, info)
            for _ in range(steps):
                if np.linalg.norm(waypoint - target) < MAX_STEP_PX or rng.random() < 0.1:
                    # push through the block: aim at the far side of its centre, or pick a new point
                    block = np.asarray(info["block_pose"][:2], dtype=np.float64)
                    waypoint = block + (block - target) if rng.random() < 0.6 else _policy_waypoint(rng, info)
                delta = waypoint - target
                target = target + delta * min(1.0, MAX_STEP_PX / (np.linalg.norm(delta) + 1e-9))
                target = np.clip(target + rng.normal(0, 3.0, size=2), 0, 512)
                action = target.astype(np.float32)
                obs, _, _, _, info = env.step(action)
                frames.append(obs)
                actions.append(action)
            episodes.append(Episode(f"pusht_seed{seed}_{e}", np.stack(frames).astype(np.uint8), np.stack(actions)))
    finally:
        env.close()
    return episodes
