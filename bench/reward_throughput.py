"""Reward throughput of the video verifier: frames scored per second by 1 and by 2 reward workers, and
by 1 worker scoring one sample per verifier call instead of a batch.

    rlvr bench reward [--frames 512] [--batch-size 16] [--repeats 2]

Both pools score the same predictions (the tokens of real frames: the Metaworld demos in
../shared/data/video when present, else generated PushT frames) in the same run on a local Ray
cluster (127.0.0.1); each worker reserves one CPU (one torch thread). Scoring is the full reward path:
decode with the frame tokenizer, L1, LPIPS (real AlexNet weights), MSE / PSNR / SSIM. Prints frames/s
per pool (best of --repeats), the ratio 2 workers / 1 worker (ideal on a 2-core machine: 2.0) and the
ratio batched / one sample per call (`rewards.video:score` as a user verifier has no batch path).
The tokenizer is trained for a few steps only: its weights do not change the cost of scoring.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def frames_for_bench(count: int):
    import numpy as np

    from worlds.video.episodes import load_metaworld_demo, resize_frames

    demos = sorted((ROOT.parent / "shared" / "data" / "video" / "metaworld").glob("*.npz"))
    if demos:
        frames, source = np.concatenate([load_metaworld_demo(d, 0).frames for d in demos]), "Metaworld demos"
    else:
        from worlds.video.pusht import generate_pusht_episodes

        frames, source = np.concatenate([resize_frames(e.frames, (64, 64)) for e in generate_pusht_episodes(count // 32 + 1, 32)]), "generated PushT"
    return frames[np.linspace(0, len(frames) - 1, count).astype(int)], source


def main(argv: list[str] | None = None, prog: str = "rlvr bench reward") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=512, help="frames scored per measurement")
    parser.add_argument("--batch-size", type=int, default=16, help="predictions per reward-worker call")
    parser.add_argument("--repeats", type=int, default=2, help="measurements per pool size (the best counts)")
    args = parser.parse_args(argv)

    import platform_compat

    platform_compat.apply()
    from rewards.config import RewardConfig
    from rewards.pool import RewardPool
    from core.cluster import ray_session
    from worlds.config import FrameTokenizerConfig
    from worlds.video.tokenizer import train_frame_tokenizer

    frames, source = frames_for_bench(args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = train_frame_tokenizer(frames, FrameTokenizerConfig(channels=32), steps=20)
        path = str(tokenizer.save(Path(tmp) / "frame_tokenizer"))
        tokens = tokenizer.encode(frames)
        predictions = [list(map(int, t)) for t in tokens]
        references = [{"frames": f[None], "tokenizer": path, "tokens_per_frame": tokenizer.tokens_per_frame, "action_tokens": 0, "lpips_net": "alex"} for f in frames]
        rates = {}
        with ray_session(num_cpus=2):
            for workers, verifier in ((1, "rewards.video:score"), (1, "video"), (2, "video")):
                pool = RewardPool(RewardConfig(count=workers, cpus=1.0, batch_size=args.batch_size, timeout_s=600), verifier)
                try:
                    pool.score(predictions[: workers * args.batch_size], references[: workers * args.batch_size])  # warm-up: load nets
                    best = 0.0
                    for _ in range(args.repeats):
                        start = time.perf_counter()
                        results = pool.score(predictions, references)
                        best = max(best, len(frames) / (time.perf_counter() - start))
                    assert all(r.error is None for r in results), [r.error for r in results if r.error][:3]
                finally:
                    pool.shutdown()
                mode = "batched" if verifier == "video" else "one sample per call"
                rates[workers, mode] = best
                print(f"{workers} reward worker(s), {mode}: {best:7.1f} frames/s")
    print(f"frames: {len(frames)} {frames.shape[1]}x{frames.shape[2]} ({source}); {ratios(rates)}")
    return 0


def ratios(rates: dict[tuple[int, str], float]) -> str:
    """The benchmark's ratios from its frames/s by (reward workers, mode)."""
    return (f"ratio 2 workers / 1 worker: {rates[2, 'batched'] / rates[1, 'batched']:.2f}; "
            f"ratio batched / one sample per call: {rates[1, 'batched'] / rates[1, 'one sample per call']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
