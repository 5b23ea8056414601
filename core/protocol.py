"""The protocol between the roles: what the rollout pool is asked and answers, and what the learner trains on.

    Prompt ──rollout pool──► Group (G Responses) ──reward pool──► RewardResult per response (rewards/types.py)
                                   │                                      │
                                   └──────► Sample per response ◄─────────┘ advantages (one float per sample)
                                                    │
                                                    ▼  learner ranks, each its shard, by object reference

Every class is built once by the role that produces it and never changed afterwards: a later role
returns its own results (the learner returns metrics; old and reference log-probs stay on its ranks).
Shapes: P = prompt tokens, T = response tokens (generated and given), G = samples per prompt.
No torch, no Ray: every role may import this module.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """Interactive generation, domain-free: generate `generate` tokens, append the next list of
    `append`, generate again, ... (len(append) + 1 generated segments of fixed length). With
    `allowed` = (lo, hi), generated tokens are sampled from that id range only (and trained so)."""

    generate: int
    append: tuple[tuple[int, ...], ...] = ()
    allowed: tuple[int, int] | None = None


@dataclass(frozen=True)
class Prompt:
    """One prompt to the rollout pool."""

    ids: list[int]  # [P] token ids
    plan: Plan | None = None  # interactive generation (token worlds); None = free generation to EOS / max tokens
    seed: int | None = None  # sampling seed: the samples are a function of (weights, prompt, seed) on any worker


@dataclass(frozen=True)
class Response:
    """One sampled response."""

    ids: list[int]  # [T] response token ids, generated and given (a plan's appended ids)
    logprobs: list[float]  # [T] log-prob each generated token was sampled with (after temperature); 0.0 at given tokens
    mask: list[int] | None = None  # [T] 1 = generated, 0 = given; None = every token generated
    finish_reason: str = "length"  # "stop" (EOS / stop string) or "length"
    text: str | None = None  # the decoded response (text models; the rollout worker decodes it once); None for token-id models


@dataclass(frozen=True)
class Group:
    """The G responses to one prompt, all from one weights version."""

    prompt_ids: list[int]  # [P]
    responses: list[Response]  # [G]
    version: int  # the weights version that generated them
    seconds: float = 0.0  # how long the worker call that made them took

    def predictions(self) -> list:
        """What the verifier scores per response: the text (text models), else the token ids."""
        return [r.text if r.text is not None else r.ids for r in self.responses]


@dataclass(frozen=True)
class Sample:
    """One training sequence: a prompt and a response (RL), or a prompt and its reference answer (MLE)."""

    prompt_ids: list[int]  # [P]
    response_ids: list[int]  # [T]
    loss_mask: list[int] | None = None  # [T] 1 = trained on, 0 = given; None = every response token
    allowed: tuple[int, int] | None = None  # [lo, hi): the id range trained tokens were sampled from; None = all ids
    rollout_logprobs: list[float] | None = None  # [T] the log-probs the rollout sampled with (RL)
    group: int = 0  # index of its prompt in the step: samples of one group share an advantage baseline
    version: int = 0  # the weights version that generated it (staleness = trained version - this)

    @property
    def length(self) -> int:
        return len(self.prompt_ids) + len(self.response_ids)

    @property
    def trained_tokens(self) -> int:
        return int(sum(self.loss_mask)) if self.loss_mask is not None else len(self.response_ids)

    @staticmethod
    def from_group(group: Group, index: int, allowed: tuple[int, int] | None = None) -> list[Sample]:
        """A training sample per response of `group` (the `index`-th prompt of its step)."""
        return [Sample(group.prompt_ids, r.ids, r.mask, allowed, r.logprobs, index, group.version) for r in group.responses]
