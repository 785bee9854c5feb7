"""Agents of a team that run in other processes, and what crosses to and from them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from bus import (
    ApprovalDecided,
    Bid,
    CallForProposals,
    CancelRequested,
    ChildCrashed,
    DeadLetter,
    Event,
    Handoff,
    TaskCompleted,
    TaskFailed,
    TaskStarted,
)

if TYPE_CHECKING:
    from bus import EventBus

__all__ = ["AGENT_INBOX", "ORCHESTRATOR_INBOX", "RemoteAgent", "Transport"]

AGENT_INBOX: tuple[type[Event], ...] = (TaskStarted, CancelRequested, CallForProposals)
"""What an orchestrator sends an agent (addressed to the agent's name)."""

ORCHESTRATOR_INBOX: tuple[type[Event], ...] = (
    TaskCompleted,
    TaskFailed,
    Handoff,
    ChildCrashed,
    ApprovalDecided,
    DeadLetter,
    Bid,
)
"""What an orchestrator takes: outcomes of attempts, crashes, decisions, dead letters, bids."""


@dataclass(frozen=True, slots=True)
class RemoteAgent:
    """An agent of a :class:`Team` served by other processes (see :class:`actors.worker.Worker`).

    The team routes the agent's work to it through its transport; the processes that
    serve the name form a pool.

    Attributes:
        name: The agent's name, as the workers' child specs have it.
        capabilities: Capabilities it offers (for routing by capability).
        description: What it does (shown to a planner).
    """

    name: str
    capabilities: Collection[str] = field(default_factory=frozenset)
    description: str = ""


class Transport(Protocol):
    """What a team or a worker needs of a transport (e.g. :class:`bus.NatsTransport`)."""

    def bus(self, **options: object) -> EventBus:
        """This process's bus, delivering to other processes."""
        ...

    def reach(self, names: Collection[str]) -> None:
        """Declare ``names`` served by other processes."""
        ...

    def provision(self, names: Collection[str]) -> None:
        """Make the names' queues exist before anyone serves them."""
        ...

    def serve(self, names: Collection[str], *, prefetch: int = 16) -> None:
        """Take the messages for ``names`` (bound here), ``prefetch`` attempts at most."""
        ...

    def watch_dead_letters(self) -> None:
        """Publish here the dead letters of messages no process could take."""
        ...
