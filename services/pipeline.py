"""The rollout side of the RL loop: a background thread that turns each step's prompts into a scored
batch (rollout pool -> reward pool) while the learner trains on the previous one.

Staleness bound K (`rl.max_staleness`; sync mode is K = 0): the batch of step t is generated with
weights version >= t - 1 - K, and the learner trains it at version t - 1, so no sample is more than
K versions behind. With K = 0 the thread waits for the weights of step t - 1 before generating step t:
the synchronous on-policy loop. With K >= 1 it generates step t + 1 while the learner trains step t.

Order of work in the thread, per step t: collect the groups of t -> score them -> wait for the
version the bound asks for -> submit the generation of t + 1 -> hand batch t to the learner. Handing
the batch over only after the next generation was submitted means the learner cannot publish a newer
version in between, so with K <= 1 the version each step is generated with is fixed (t - 1 - K),
whatever the timing. (With K >= 2 a step may get newer weights than the bound requires.)
The thread stops at `stop()` or at the first error, which `next()` raises in the caller.
"""

from __future__ import annotations

import hashlib
import queue
import random
import threading
import time
from dataclasses import dataclass

from core.protocol import Group, Sample
from rewards.types import RewardResult
from rollout.config import SamplingConfig
from services.run import Encoded


@dataclass(frozen=True)
class ScoredBatch:
    """One step's scored groups: what the learner trains on, and what the step logs. N = prompts x G."""

    step: int
    prompts: list[Encoded]  # [prompts] in the order drawn
    samples: list[Sample]  # [N] group-major: the G samples of prompt 0, then of prompt 1, ...
    results: list[RewardResult]  # [N] the verifier's result of each sample
    timings: dict[str, float]  # time/generate (the slowest worker call), time/reward
    greedy: list[RewardResult] | None = None  # [prompts] each prompt's greedy answer, with greedy_baseline


def scored_inputs(prompts: list[Encoded], groups: list[Group]) -> tuple[list, list]:
    """(predictions, references) for the verifier: every response of every group, in order."""
    answers = [p for g in groups for p in g.predictions()]
    return answers, [e.example.reference for e, g in zip(prompts, groups) for _ in g.responses]


def _split_by_change(data: list[Encoded], unchanged_per_changed: float) -> tuple[list[Encoded], list[Encoded], int]:
    """(changed, unchanged, how many unchanged an epoch samples); examples without a 'changed' flag count as changed."""
    changed = [e for e in data if e.example.meta.get("changed", True)]
    unchanged = [e for e in data if not e.example.meta.get("changed", True)]
    return changed, unchanged, min(len(unchanged), round(unchanged_per_changed * len(changed)))


def rl_epoch(data: list[Encoded], seed: int, epoch: int, unchanged_per_changed: float | None = None) -> list[Encoded]:
    """One epoch of RL prompts in order, a function of (seed, epoch) alone: every example, or (with a
    mix ratio) every changed transition plus `unchanged_per_changed` unchanged ones per changed one,
    sampled anew each epoch (the paper's RL sets); shuffled."""
    rng = random.Random(seed * 1_000_003 + epoch)
    chosen = list(data)
    if unchanged_per_changed is not None:
        changed, unchanged, k = _split_by_change(data, unchanged_per_changed)
        chosen = changed + rng.sample(unchanged, k)
    rng.shuffle(chosen)
    return chosen


def draw_prompts(data: list[Encoded], seed: int, step: int, count: int, unchanged_per_changed: float | None = None) -> list[Encoded]:
    """The prompts of a step: the next `count` of the epochs laid end to end (see rl_epoch), a function
    of (seed, step) alone, so a resumed run draws the same ones."""
    if unchanged_per_changed is None:
        epoch_size = len(data)
    else:
        changed, _, k = _split_by_change(data, unchanged_per_changed)
        epoch_size = len(changed) + k
    if epoch_size == 0:
        raise ValueError("no RL prompts: the training split is empty (or holds no changed transition for the RL mix)")
    count = min(count, epoch_size)
    start = (step - 1) * count
    out: list[Encoded] = []
    while len(out) < count:
        epoch, offset = divmod(start + len(out), epoch_size)
        out += rl_epoch(data, seed, epoch, unchanged_per_changed)[offset : offset + count - len(out)]
    return out


def sampling_seeds(seed: int, key, count: int) -> list[int]:
    """A sampling seed per prompt, a function of (seed, key, position) alone (key: the step, or "eval"):
    the samples of a prompt do not depend on which rollout worker draws them, or on a resume."""
    return [int.from_bytes(hashlib.sha256(f"{seed}:{key}:{i}".encode()).digest()[:4], "big") >> 1 for i in range(count)]


class RolloutPipeline:
    def __init__(self, rollout, rewards, data: list[Encoded], *, seed: int, prompts_per_step: int,
                 group_size: int, first_step: int, last_step: int, max_staleness: int, unchanged_per_changed: float | None = None,
                 greedy_baseline: bool = False, greedy_sampling: SamplingConfig | None = None):
        """`greedy_baseline`: also generate one greedy answer per prompt with the same weights
        (`greedy_sampling`: the pool's sampling at temperature 0) and score it (ScoredBatch.greedy): the
        baseline of self-critical advantages, and the greedy reward logged per step."""
        self.rollout, self.rewards, self.data = rollout, rewards, data
        self.greedy_sampling = greedy_sampling
        self.seed, self.prompts_per_step, self.group_size, self.greedy_baseline = seed, prompts_per_step, group_size, greedy_baseline
        self.unchanged_per_changed = unchanged_per_changed
        self.first, self.last, self.max_staleness = first_step, last_step, max_staleness
        self.version = first_step - 1  # the newest weights the rollout workers were given
        self.changed = threading.Condition()
        self.stopped = False
        self.batches: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._produce, name="rollout-pipeline", daemon=True)
        self.thread.start()

    # ---- the learner's side -----------------------------------------------------------------

    def next(self) -> ScoredBatch:
        """The next step's batch (blocks until it is scored); re-raises an error of the rollout side."""
        item = self.batches.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def published(self, version: int) -> None:
        """The rollout workers now hold weights `version`."""
        with self.changed:
            self.version = version
            self.changed.notify_all()

    def stop(self, wait_s: float | None = None) -> None:
        """Stop the rollout side (after the call it is in, if any); with `wait_s`, wait that long for it."""
        with self.changed:
            self.stopped = True
            self.changed.notify_all()
        if wait_s is not None:
            self.thread.join(timeout=wait_s)

    # ---- the rollout side (background thread) -----------------------------------------------

    def _submit(self, step: int):
        prompts = draw_prompts(self.data, self.seed, step, self.prompts_per_step, self.unchanged_per_changed)
        asked = [e.prompt(seed) for e, seed in zip(prompts, sampling_seeds(self.seed, step, len(prompts)))]
        futures = [self.rollout.submit(asked, n=self.group_size)]
        if self.greedy_baseline:
            futures.append(self.rollout.submit(asked, n=1, sampling=self.greedy_sampling))
        return prompts, futures

    def _wait_for_version(self, version: int) -> bool:
        with self.changed:
            self.changed.wait_for(lambda: self.stopped or self.version >= version)
            return not self.stopped

    def _produce(self) -> None:
        try:
            pending = self._submit(self.first)
            for step in range(self.first, self.last + 1):
                prompts, futures = pending
                groups, *greedy_groups = [self.rollout.collect(f) for f in futures]
                t_generate = sum(max(g.seconds for g in gs) for gs in [groups, *greedy_groups])  # the slowest worker's calls, queueing excluded
                t0 = time.perf_counter()
                samples = [s for i, (e, g) in enumerate(zip(prompts, groups)) for s in Sample.from_group(g, i, e.allowed)]
                answers, references = scored_inputs(prompts, groups)
                for gs in greedy_groups:  # scored in the same call as the samples
                    more = scored_inputs(prompts, gs)
                    answers, references = answers + more[0], references + more[1]
                results = self.rewards.score(answers, references)
                batch = ScoredBatch(step, prompts, samples, results[: len(samples)], {"time/generate": t_generate, "time/reward": time.perf_counter() - t0},
                                    greedy=results[len(samples):] if greedy_groups else None)
                if self.max_staleness == 0:
                    self.batches.put(batch)  # the next generation needs the weights trained on this batch
                if step < self.last:
                    if not self._wait_for_version(step - self.max_staleness):
                        return
                    pending = self._submit(step + 1)
                if self.max_staleness > 0:
                    self.batches.put(batch)
        except BaseException as err:  # handed to the learner's side, which raises it
            self.batches.put(err)
