"""Identity: attempt tokens, and the events the orchestrator refuses for want of one.

``shared/DESIGN.md``, protocol invariant 4 ("Static graph and identity"): only the
agent that was given an attempt can end it, and only the approver API can approve.

* Each ``TaskStarted`` the orchestrator publishes carries a new token
  (:func:`new_attempt_token`); the agent copies it onto the attempt's outcome. An
  outcome whose token the orchestrator never issued for that workflow, task and
  attempt is **forged**: not applied, and rejected (:class:`Rejections`). One whose
  token was issued for an attempt (or a dispatch) no longer current is **stale**:
  ignored like any late reply. The replicas of a replicated attempt (see
  ``replication.py``) each have one, current while that replica runs. Tokens of
  attempts cut short by a process's death come back from the event log on resume, so
  their late outcomes are stale, not forged.
* A decision on an approval comes to the orchestrator as a message
  (``actors.lowlevel.approve``); an ``ApprovalDecided`` it did not publish itself is
  a forged approval.

A token is 128 random bits, a secret while its attempt runs: it never goes into a
span, a metric or a log line (events leave it out of their ``repr``).
"""

from __future__ import annotations

import enum
import hmac
import logging
import secrets
from typing import Literal, NamedTuple

from opentelemetry import metrics

from bus import (
    ChildCrashed,
    DeadLetter,
    Delegated,
    Event,
    EventBus,
    EventRejected,
    FailureKind,
    Handoff,
    TaskCompleted,
    TaskFailed,
)

from .result import TaskStatus
from .workflow_state import TaskRun

__all__ = [
    "TOKEN_BYTES",
    "Failure",
    "Rejections",
    "Verdict",
    "attempt_token_of",
    "failure_of",
    "new_attempt_token",
    "same_token",
    "verdict",
]

logger = logging.getLogger(__name__)

TOKEN_BYTES = 16
"""Random bytes in an attempt token: 128 bits, 22 URL-safe base64 characters."""


def new_attempt_token() -> str:
    """A new unguessable attempt token (``secrets.token_urlsafe`` of :data:`TOKEN_BYTES`)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def same_token(a: str, b: str) -> bool:
    """Whether two tokens are equal, compared in constant time (any characters)."""
    return hmac.compare_digest(a.encode(), b.encode())


def attempt_token_of(event: Event) -> str | None:
    """The attempt token an event ending an attempt carries, ``None`` for other events.

    ``TaskCompleted``, ``TaskFailed``, ``Handoff`` and ``Delegated`` carry theirs (``""``
    if none);
    a ``ChildCrashed`` the token of the attempt in flight; a ``DeadLetter`` of a
    ``TaskStarted`` the undelivered event's.
    """
    if isinstance(event, TaskCompleted | TaskFailed | Handoff | Delegated | ChildCrashed):
        return event.attempt_token
    if isinstance(event, DeadLetter) and event.event.get("type") == "task.started":
        token = event.event.get("attempt_token")
        return token if isinstance(token, str) else ""
    return None


class Verdict(enum.Enum):
    """What an outcome's token says about it."""

    CURRENT = "current"  # the token of the attempt in flight: apply it
    STALE = "stale"  # a token issued for this task, no longer current: a late reply
    FORGED = "forged"  # no token issued for this task and attempt: reject it


def verdict(run: TaskRun, event: Event, token: str) -> tuple[Verdict, str]:
    """Judge ``event`` (an outcome for ``run``'s task) by its attempt ``token``.

    Returns:
        The verdict, and for a forged outcome what was wrong (never the token).
    """
    if not token:
        return Verdict.FORGED, "no attempt token"
    issued = run.tokens.get(token)
    if issued is None:
        return Verdict.FORGED, "an attempt token not issued for this task"
    if issued != event.attempt:
        return Verdict.FORGED, f"the attempt token of attempt {issued}"
    current = (
        run.status is TaskStatus.RUNNING
        and event.attempt == run.attempts
        and (
            same_token(token, run.attempt_token)
            or (run.replicas is not None and run.replicas.live(token) is not None)
        )
    )
    return (Verdict.CURRENT if current else Verdict.STALE), ""


class Failure(NamedTuple):
    """A failed dispatch: its kind, the error (``"Type: message"``), and if retryable."""

    kind: FailureKind
    error: str
    retryable: bool


def failure_of(event: Event, agent: str) -> Failure | None:
    """The failure ``event`` reports for a dispatch on ``agent``, if it reports one.

    A ``TaskFailed`` from ``agent`` (or with no agent), a ``ChildCrashed`` of
    ``agent``, or a ``DeadLetter`` of the ``TaskStarted`` addressed to ``agent``.
    """
    if isinstance(event, TaskFailed):
        if event.agent not in ("", agent):
            return None
        error = f"{event.error_type}: {event.message}"
        return Failure(FailureKind.ERROR, error, event.retryable)
    if isinstance(event, ChildCrashed):
        if event.child != agent:
            return None
        error = f"agent crashed: {event.error_type}: {event.message}"
        return Failure(FailureKind.CRASH, error, retryable=True)
    if (
        isinstance(event, DeadLetter)
        and event.event.get("type") == "task.started"
        and event.subscriber == event.event.get("agent") == agent
    ):
        return Failure(FailureKind.UNDELIVERABLE, f"task undeliverable: {event.reason}", True)
    return None


Reason = Literal["forged outcome", "forged approval"]


class Rejections:
    """Reports each event the orchestrator refuses: a metric, a WARNING, an event.

    Each rejection adds 1 to the ``actorchestra.orchestrator.rejected_events`` counter
    (attributes ``actorchestra.rejection.reason`` and ``actorchestra.event.type``), is
    logged at WARNING (a dropped event, by the logging policy; never its payload or
    token) and published as :class:`bus.EventRejected` if anyone subscribes (or the
    bus keeps an event log). Called in the orchestrator's thread.

    Args:
        bus: Where ``EventRejected`` goes.
        counter: The ``rejected_events`` instrument.
        orchestrator: The orchestrator's name (the events' ``source``).
    """

    __slots__ = ("_bus", "_counter", "_orchestrator")

    def __init__(self, bus: EventBus, counter: metrics.Counter, orchestrator: str) -> None:
        self._bus = bus
        self._counter = counter
        self._orchestrator = orchestrator

    def reject(self, event: Event, reason: Reason, detail: str) -> None:
        """Report ``event`` as rejected for ``reason`` (``detail``: what was wrong)."""
        self._counter.add(
            1, {"actorchestra.rejection.reason": reason, "actorchestra.event.type": event.type}
        )
        logger.warning(
            "Orchestrator %r rejected a %s: %s %s of %s/%s attempt %d from %r (%s)",
            self._orchestrator,
            reason,
            event.type,
            event.id,
            event.workflow_id,
            event.task_id,
            event.attempt,
            event.source,
            detail,
        )
        if self._bus.has_subscribers(EventRejected):
            self._bus.publish(
                EventRejected(
                    source=self._orchestrator,
                    workflow_id=event.workflow_id,
                    task_id=event.task_id,
                    attempt=event.attempt,
                    causation_id=event.id,
                    reason=reason,
                    rejected_type=event.type,
                    publisher=event.source,
                    detail=detail,
                )
            )
