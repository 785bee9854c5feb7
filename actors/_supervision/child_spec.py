"""Child specs: how a supervisor starts, restarts and stops one child (OTP ``child_spec``)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from actors._backoff import Backoff

__all__ = ["ChildSpec", "RestartPolicy"]


class RestartPolicy(enum.Enum):
    """When a child is restarted (OTP's child ``restart`` type).

    * ``PERMANENT`` — always restarted, whatever the exit reason.
    * ``TRANSIENT`` — restarted only after an abnormal exit (a crash).
    * ``TEMPORARY`` — never restarted.
    """

    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"

    def restarts(self, *, abnormal: bool) -> bool:
        """Whether a child that exited (abnormally or not) is restarted."""
        if self is RestartPolicy.PERMANENT:
            return True
        return self is RestartPolicy.TRANSIENT and abnormal


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How to run one child.

    Attributes:
        id: Stable name of the child, unique under its supervisor; for agents also the
            name events are addressed to.
        start: Starts the child and returns its ref; called in the supervisor's thread.
            The actor it starts must be an :class:`actors.Actor` named ``id``.
        restart: OTP restart type.
        shutdown_timeout: Seconds to wait for the child to stop (OTP ``shutdown``).
        description: What the child does, for humans and planners.
        backoff: Delay restarts of this child (see :class:`Backoff`); ``None`` restarts
            at once.
        capabilities: What an agent child can do, by name (e.g. ``"analysis"``); a task
            may name a capability instead of an agent.
    """

    id: str
    start: Callable[[], pykka.ActorRef[Any]]
    restart: RestartPolicy = RestartPolicy.PERMANENT
    shutdown_timeout: float = 5.0
    description: str = ""
    backoff: Backoff | None = None
    capabilities: frozenset[str] = frozenset()
