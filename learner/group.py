"""The learner group: `learner.count` LearnerRank actors forming one DeepSpeed world on Ray.

    learner = LearnerGroup(model_path, cfg.learner, lr=cfg.rl.lr, seed=0, old_logprobs="rollout")
    metrics = learner.train_grpo(samples, advantages, samples_per_minibatch=64)

The ranks are gang-scheduled: one placement group (PACK) holds them all, so a world is placed whole
or waits whole (core/actors.py). GRPO: the step's samples are split into mini-batches of
`samples_per_minibatch`, one optimiser update each (one epoch over the batch), each mini-batch dealt
round-robin to the ranks; every rank gets its shards of the whole step in one object-store put, and
computes the old and reference log-probs itself (only the advantages, one float per sample, come
with them). With the KL in the reward, `sequence_kl` first returns each sample's KL from the
reference (the ranks keep the log-probs for the training call that follows).

A rank that dies or hangs takes the group with it (its peers would wait in a collective forever):
every call waits on all ranks at once with a deadline (`learner.timeout_s`), and the first death or
missed deadline kills every rank and raises LearnerFailure naming the rank and the call, from which
the caller re-creates the group from a checkpoint (services/rl.py).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import ray
from ray.exceptions import RayActorError, RayTaskError

from core.actors import ActorGroup
from core.protocol import Sample
from learner.batching import chunks
from learner.config import LearnerConfig
from learner.rank import LearnerRank

_BATCH_IDS = itertools.count(1)


def _mean(dicts: list[dict]) -> dict[str, float]:
    keys = set().union(*dicts)
    return {k: sum(d[k] for d in dicts if k in d) / sum(k in d for d in dicts) for k in keys}


class LearnerFailure(RuntimeError):
    """A learner rank died or missed its deadline (the group's ranks were stopped): re-create the group from a checkpoint."""


@dataclass(frozen=True)
class Staged:
    """A GRPO step's samples, put in the object store once per rank: rank r's shard of every mini-batch."""

    batch_id: int
    refs: list  # per rank: ref of list[list[Sample]] (its part of each mini-batch)
    index: list[list[list[int]]]  # per rank, per mini-batch: the indices of its samples in the step


class LearnerGroup:
    def __init__(self, model_path: str, config: LearnerConfig, lr: float, temperature: float = 1.0, seed: int = 0,
                 old_logprobs: str = "recompute", start_timeout_s: float = 1800.0):
        self.cfg = config
        self.group = ActorGroup(LearnerRank, "learner", config.shape(), gang=True,
                                start_timeout_s=start_timeout_s)
        self.ranks: list = []
        try:
            self.ranks = self.group.start(config.count, lambda r: (model_path, config.model_dump(), lr, r, config.count, temperature, seed, old_logprobs),
                                          what="learner ranks")
            host, port = self.free_address()  # rank 0's node: it hosts the ranks' store
            self.gather([r.start.remote(host, port) for r in self.ranks], "start")  # waits until every rank's engine is up
        except BaseException:
            self.shutdown()
            raise

    def reload(self, model_path: str, config: LearnerConfig, lr: float, temperature: float = 1.0, old_logprobs: str = "recompute") -> None:
        """The job's next stage on the same ranks (services/run.py, Pools.learner): a fresh engine and optimizer
        from `model_path` with these settings, as a new group would start them, without starting processes.
        `config` must keep the group's shape (count, cpus, gpus, resources)."""
        if (config.count, config.shape()) != (self.cfg.count, self.cfg.shape()):
            raise ValueError(f"a learner group of {self.cfg.count} x {self.cfg.shape()} cannot be reloaded as {config.count} x {config.shape()}")
        self.cfg = config
        self.gather([r.reload.remote(model_path, config.model_dump(), lr, temperature, old_logprobs) for r in self.ranks], "reload")

    def gather(self, futures: list, what: str) -> list:
        """ray.get of one call on every rank (`what` names it), failing as soon as one rank died or the
        deadline passed (LearnerFailure, the group stopped) instead of waiting for its peers, which may be
        stuck in a collective with it."""
        pending, deadline = list(futures), time.monotonic() + self.cfg.timeout_s
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                late = [self.group.describe(self.ranks[futures.index(f)]) for f in pending]
                self._fail(f"{', '.join(late)} did not finish {what} within learner.timeout_s = {self.cfg.timeout_s:g} s")
            try:
                ray.get(ready)
            except RayActorError as err:
                self._fail(f"{self.group.describe(self.ranks[futures.index(ready[0])])} died during {what}", err)
            except RayTaskError as err:  # a peer's collective broke because a rank died: report the death
                if self._someone_died():
                    self._fail(f"a learner rank died during {what}", err)
                raise
        return ray.get(list(futures))

    def _someone_died(self) -> bool:
        pings = [r.ready.remote() for r in self.ranks]
        ready, _ = ray.wait(pings, num_returns=len(pings), timeout=30)
        try:
            ray.get(ready)
        except RayActorError:
            return True
        return len(ready) < len(pings)

    def _fail(self, why: str, err: Exception | None = None):
        self.shutdown()
        raise LearnerFailure(f"{why}; the learner group was stopped") from err

    # ---- training ---------------------------------------------------------------------------

    def stage(self, samples: list[Sample], samples_per_minibatch: int) -> Staged:
        """Deal the step's mini-batches to the ranks and put each rank's part in the object store."""
        n = len(self.ranks)
        minibatches = chunks(list(range(len(samples))), samples_per_minibatch)
        if any(len(mb) < n for mb in minibatches):
            raise ValueError(f"a mini-batch of {min(map(len, minibatches))} samples cannot feed {n} learner ranks")
        index = [[mb[r::n] for mb in minibatches] for r in range(n)]
        refs = [ray.put([[samples[i] for i in part] for part in parts]) for parts in index]
        return Staged(next(_BATCH_IDS), refs, index)

    def sequence_kl(self, staged: Staged) -> list[float]:
        """Per sample (in step order), the KL of the current model from the reference summed over its
        trained tokens (for the KL in the reward)."""
        parts = self.gather([rank.sequence_kl.remote(staged.batch_id, ref) for rank, ref in zip(self.ranks, staged.refs)], "sequence_kl")
        out: dict[int, float] = {}
        for index, values in zip(staged.index, parts):
            for idx, vals in zip(index, values):
                out.update(zip(idx, vals))
        return [out[i] for i in range(len(out))]

    def train_grpo(self, samples: list[Sample] | Staged, advantages: list[float], samples_per_minibatch: int | None = None) -> dict[str, float]:
        """One epoch of GRPO updates over the step's samples (or a `stage`d step) with one advantage per
        sample; returns metrics averaged over updates and ranks."""
        staged = samples if isinstance(samples, Staged) else self.stage(samples, samples_per_minibatch)
        shares = [[[advantages[i] for i in idx] for idx in index] for index in staged.index]
        parts = self.gather([rank.train_grpo.remote(staged.batch_id, ref, adv) for rank, ref, adv in zip(self.ranks, staged.refs, shares)], "train_grpo")
        return {**_mean([m for part in parts for m in part]), "num_updates": len(parts[0])}

    def train_mle(self, samples: list[Sample]) -> dict[str, float]:
        """One MLE update over `samples`."""
        n = len(self.ranks)
        if len(samples) < n:
            raise ValueError(f"a batch of {len(samples)} samples cannot feed {n} learner ranks")
        return _mean(self.gather([rank.train_mle.remote(samples[r::n]) for r, rank in enumerate(self.ranks)], "train_mle"))

    def logprobs(self, samples: list[Sample], raw: bool = False) -> list[list[float]]:
        """Per-sample response log-probs (raw: at temperature 1 over every id), computed in parallel over
        the ranks, in input order."""
        n = len(self.ranks)
        shards = [samples[r::n] for r in range(n)]
        call = (lambda rank, s: rank.probe_logprobs.remote(s)) if raw else (lambda rank, s: rank.logprobs.remote(s))
        parts = self.gather([call(rank, shard) for rank, shard in zip(self.ranks, shards)], "logprobs")
        out: list = [None] * len(samples)
        for r, part in enumerate(parts):
            out[r::n] = part
        return out

    def set_lr(self, lr: float) -> None:
        self.gather([r.set_lr.remote(lr) for r in self.ranks], "set_lr")

    # ---- weights ----------------------------------------------------------------------------

    def export_weights(self, bucket_bytes: int) -> list:
        """Object-store refs of the weight buckets (gathered from rank 0)."""
        return self.gather([r.export_weights.remote(bucket_bytes) for r in self.ranks], "export_weights")[0]

    def free_address(self) -> tuple[str, int]:
        return self.gather([self.ranks[0].free_address.remote()], "free_address")[0]

    def join_weight_group(self, host: str, port: int, world_size: int, backend: str):
        """Rank 0 joins the weight-broadcast group as its sender; returns the future (the receivers join concurrently)."""
        return self.ranks[0].join_weight_group.remote(host, port, world_size, backend)

    def weight_layout(self, bucket_bytes: int):
        return self.gather([r.weight_layout.remote(bucket_bytes) for r in self.ranks], "weight_layout")[0]

    def broadcast_weights(self, layout) -> list:
        """Futures of every rank's part of a broadcast (rank 0 sends); the receivers must be called concurrently."""
        return [r.broadcast_weights.remote(layout) for r in self.ranks]

    def save_checkpoint(self, directory: str, tag: str) -> None:
        self.gather([r.save_checkpoint.remote(directory, tag) for r in self.ranks], "save_checkpoint")

    def load_checkpoint(self, directory: str, tag: str) -> None:
        self.gather([r.load_checkpoint.remote(directory, tag) for r in self.ranks], "load_checkpoint")

    def export_hf(self, directory: str) -> None:
        self.gather([r.export_hf.remote(directory) for r in self.ranks], "export_hf")

    def shutdown(self) -> None:
        for r in self.ranks:
            self.group.kill(r)
        self.ranks = []
        self.group.remove_placement()
