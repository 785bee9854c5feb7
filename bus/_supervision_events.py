"""The supervision events: children started, crashed and restarted, escalation, death-watch."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ._event import Event

__all__ = [
    "ActorTerminated",
    "ChildCrashed",
    "ChildRestarted",
    "ChildStarted",
    "SupervisorEscalated",
]


class ChildStarted(Event):
    """A supervisor started a child (OTP ``progress`` report).

    Fields:
        supervisor: The supervisor's name.
        child: The child spec's id.
    """

    starts_trace: ClassVar[bool] = False

    type: Literal["supervisor.child_started"] = "supervisor.child_started"
    supervisor: str
    child: str


class ChildCrashed(Event):
    """A supervised child exited abnormally; ``task_id`` names the task in flight.

    Fields:
        supervisor: The supervisor's name.
        child: The child spec's id.
        error_type: Exception class name.
        message: Exception message.
        attempt_token: The token of the attempt in flight (its ``TaskStarted``'s), so
            the orchestrator knows the report is about that attempt; ``""`` for none.
    """

    sender_field: ClassVar[str] = "child"

    type: Literal["supervisor.child_crashed"] = "supervisor.child_crashed"
    supervisor: str
    child: str
    error_type: str
    message: str = ""
    attempt_token: str = Field(default="", max_length=256, repr=False)


class ChildRestarted(Event):
    """A supervisor restarted a child.

    Fields:
        supervisor: The supervisor's name.
        child: The child spec's id.
        restart_count: Restarts of this child since the supervisor started.
    """

    type: Literal["supervisor.child_restarted"] = "supervisor.child_restarted"
    supervisor: str
    child: str
    restart_count: int = Field(ge=1)


class SupervisorEscalated(Event):
    """A supervisor exceeded its restart intensity, stopped its children and failed.

    Fields:
        supervisor: The supervisor's name.
        restarts: Restarts counted within ``period`` seconds.
        period: The intensity window, in seconds.
        fatal: True if this supervisor is a root (nobody above it to escalate to).
    """

    type: Literal["supervisor.escalated"] = "supervisor.escalated"
    supervisor: str
    restarts: int
    period: float
    fatal: bool = False


class ActorTerminated(Event):
    """An actor stopped or crashed (death-watch; routed to watchers of ``actor``).

    Watch with ``bus.subscribe(ActorTerminated, watcher, recipient=target)`` or
    :meth:`actors.Actor.watch`. Nobody watching is not a dead letter.

    Fields:
        actor: The name of the actor that ended.
        abnormal: True for a crash, false for a normal stop.
        error_type: Exception class name of a crash (``""`` for a normal stop).
        message: Exception message of a crash.
    """

    recipient_field: ClassVar[str | None] = "actor"
    dead_letter_if_unrouted: ClassVar[bool] = False
    starts_trace: ClassVar[bool] = False

    type: Literal["actor.terminated"] = "actor.terminated"
    actor: str = Field(min_length=1)
    abnormal: bool
    error_type: str = ""
    message: str = ""
