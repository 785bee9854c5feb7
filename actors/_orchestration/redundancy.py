"""Redundancy: a task's attempt runs on several agents at once; the first result or a vote wins.

:class:`Redundancy` is part of a :class:`Task` (declarative, so a planner can write it
and the event log keeps it). A vote's reducer is named, not given: the built-in
:data:`REDUCERS` (``majority``, ``plurality``, ``unanimous``) and the ones a team
adds (``Team(reducers={...})``).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from actors._errors import PlanValidationError, TaskError
from actors._json_value import canonical_json

if TYPE_CHECKING:
    from .plan import Plan

__all__ = [
    "REDUCERS",
    "Ballot",
    "NoConsensus",
    "Reducer",
    "Redundancy",
    "check_redundancy",
    "majority",
    "plurality",
    "unanimous",
]


class Redundancy(BaseModel):
    """Run each attempt of a task on ``copies`` distinct agents at once.

    The agents are the task's candidates (those with its capability, or its agent and
    the agents sharing a capability with it), least loaded first, with a closed circuit
    and no attempt given up on still out there; those with room under
    ``Limits.max_in_flight`` go first. Each gets a ``TaskStarted`` of the same attempt
    with its own token and ``replica`` number (1, 2, ...). Tool side effects still run
    once per idempotency key (the key names the workflow, task, tool and arguments,
    not the agent), as long as the agents share an idempotency store (a team's do by
    default).

    Attributes:
        copies: Agents to run each attempt on (2 to 32); fewer if fewer are available.
        decide: ``"first"``: the first result completes the task, the other replicas
            are cancelled (``CancelRequested``) and their late outcomes ignored; the
            attempt fails only when every replica failed. ``"vote"``: the task waits
            for every replica (or, at the attempt's timeout, for those that answered)
            and completes with ``reducer`` applied to the results, if at least
            ``quorum`` replicas completed; else the attempt fails (``no_consensus``)
            and is retried. A vote starts once ``quorum`` agents have room; a team with
            fewer candidates fails it as ``undeliverable``.
        reducer: For a vote, the name of the reducer (see :data:`REDUCERS`; a team
            adds its own with ``Team(reducers=...)``). The built-in ones compare results
            as canonical JSON text: ``1`` and ``1.0``, or ``true`` and ``1``, differ.
        quorum: For a vote, the completed replicas needed (at most ``copies``); by
            default a majority of ``copies``. For ``"first"`` it must be ``None``.

    Raises:
        pydantic.ValidationError: A quorum above ``copies``, or a quorum or reducer
            given for ``"first"``. A team refuses a plan whose ``copies`` pass its
            ``Limits.max_copies`` (``PlanValidationError``).

    Example:
        >>> Redundancy(copies=3, decide="vote").needed
        2
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    copies: int = Field(ge=2, le=32)
    decide: Literal["first", "vote"] = "first"
    reducer: str = Field(default="majority", min_length=1)
    quorum: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _quorum_fits(self) -> Redundancy:
        if self.quorum is not None and self.decide == "first":
            msg = "quorum is for decide='vote'; the first result decides otherwise"
            raise ValueError(msg)
        if self.decide == "first" and self.reducer != "majority":
            msg = "reducer is for decide='vote'; the first result decides otherwise"
            raise ValueError(msg)
        if self.quorum is not None and self.quorum > self.copies:
            msg = f"quorum {self.quorum} is above copies {self.copies}"
            raise ValueError(msg)
        return self

    @property
    def needed(self) -> int:
        """Completed replicas the attempt needs: 1 for ``"first"``, the quorum for a vote."""
        if self.decide == "first":
            return 1
        return self.quorum if self.quorum is not None else self.copies // 2 + 1


@dataclass(frozen=True, slots=True)
class Ballot:
    """One replica's result, as a reducer sees it.

    Attributes:
        agent: The agent that ran the replica.
        replica: Its number within the attempt (1, 2, ...).
        result: What it returned (JSON).
    """

    agent: str
    replica: int
    result: JsonValue


Reducer = Callable[[Sequence[Ballot]], JsonValue]
"""Decides a vote: the completed replicas' ballots (replica order) → the task's result.

Runs in the orchestrator's thread, so it must not block. :class:`NoConsensus` fails the
attempt (retried while attempts remain); any other exception fails the task.
"""


class NoConsensus(TaskError):  # noqa: N818 - a condition, as TaskCancelled
    """A vote's results do not agree enough for its reducer (a retryable failure)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


def _counts(ballots: Sequence[Ballot]) -> list[tuple[int, JsonValue]]:
    """Each distinct result (equal as canonical JSON) and its votes, most votes first."""
    votes: collections.Counter[str] = collections.Counter()
    first: dict[str, JsonValue] = {}
    for ballot in ballots:
        key = canonical_json(ballot.result)
        votes[key] += 1
        first.setdefault(key, ballot.result)
    return [(n, first[key]) for key, n in votes.most_common()]  # ties: first seen first


def majority(ballots: Sequence[Ballot]) -> JsonValue:
    """The result more than half of the ballots give (results compared as canonical JSON).

    Raises:
        NoConsensus: No result has more than half of the votes.

    Example:
        >>> majority([Ballot("a", 1, 42), Ballot("b", 2, 42), Ballot("c", 3, 41)])
        42
    """
    counts = _counts(ballots)
    if counts and counts[0][0] * 2 > len(ballots):
        return counts[0][1]
    tally = sorted(n for n, _ in counts)[::-1]
    msg = f"no result has a majority of the {len(ballots)} votes (tally {tally})"
    raise NoConsensus(msg)


def plurality(ballots: Sequence[Ballot]) -> JsonValue:
    """The result most ballots give; on a tie, the one given first.

    Raises:
        NoConsensus: There are no ballots.
    """
    counts = _counts(ballots)
    if not counts:
        msg = "no ballots to count"
        raise NoConsensus(msg)
    return counts[0][1]


def unanimous(ballots: Sequence[Ballot]) -> JsonValue:
    """The result every ballot gives.

    Raises:
        NoConsensus: The ballots differ (or there are none).
    """
    counts = _counts(ballots)
    if len(counts) == 1:
        return counts[0][1]
    msg = f"the {len(ballots)} votes are not unanimous ({len(counts)} different results)"
    raise NoConsensus(msg)


REDUCERS: Mapping[str, Reducer] = {
    "majority": majority,
    "plurality": plurality,
    "unanimous": unanimous,
}
"""The reducers every team knows, by the name a :class:`Redundancy` gives."""


def check_redundancy(plan: Plan, reducers: Collection[str], max_copies: int) -> None:
    """Check that ``plan``'s replicated tasks fit ``max_copies`` and name known reducers.

    Raises:
        PlanValidationError: The first task breaking either rule.
    """
    for task in plan.tasks:
        spec = task.redundancy
        if spec is not None and spec.copies > max_copies:
            msg = (
                f"Task {task.id!r} asks for {spec.copies} copies; the team's limit is "
                f"{max_copies} (Limits.max_copies)."
            )
            raise PlanValidationError(msg, task_id=task.id, rule="copies within max_copies")
        if spec is not None and spec.decide == "vote" and spec.reducer not in reducers:
            msg = (
                f"Task {task.id!r} votes with unknown reducer {spec.reducer!r}; known "
                f"reducers are {sorted(reducers)} (add one with Team(reducers=...))."
            )
            raise PlanValidationError(msg, task_id=task.id, rule="a vote names a known reducer")
