"""A task's events: started, cancelled, completed, failed, handed off, approved, finished."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, JsonValue

from ._event import Event
from ._failure_kind import FailureKind
from ._token_usage import TokenUsage

__all__ = [
    "ApprovalDecided",
    "ApprovalRequested",
    "CancelRequested",
    "Handoff",
    "TaskCompleted",
    "TaskFailed",
    "TaskFinished",
    "TaskStarted",
]


class TaskStarted(Event):
    """The orchestrator asks ``agent`` to run a task (addressed to ``agent``).

    Fields:
        agent: Name of the agent that must run the task.
        description: What to do, in words.
        inputs: Results of the task's dependencies, by task id.
        context: Extra context, e.g. the slice handed over by a :class:`Handoff`.
        handoff_depth: How many handoffs led to this start (0 for none).
        timeout: Seconds the attempt may run, ``None`` for no limit. The orchestrator
            counts them from when it sent the attempt, then gives up on it and asks the
            agent to cancel it; the agent's :class:`actors.Cancellation` also runs out
            that long after the agent started it.
    """

    recipient_field: ClassVar[str | None] = "agent"

    type: Literal["task.started"] = "task.started"
    agent: str = Field(min_length=1)
    description: str = ""
    inputs: dict[str, JsonValue] = Field(default_factory=dict)
    context: dict[str, JsonValue] = Field(default_factory=dict)
    handoff_depth: int = Field(default=0, ge=0)
    timeout: float | None = Field(default=None, gt=0)


class CancelRequested(Event):
    """The orchestrator asks ``agent`` to stop an attempt (addressed to ``agent``).

    Agents take it with a callable subscription, in the publisher's thread, not through
    their mailbox (busy with the attempt): the attempt's :class:`actors.Cancellation`
    is cancelled at once. Nobody taking it (the agent is gone) is not a dead letter.

    Fields:
        agent: The agent running the attempt (``workflow_id``, ``task_id`` and
            ``attempt`` name it).
        reason: Why: ``timeout``, ``cancelled: <why>`` or ``shutdown``.
    """

    recipient_field: ClassVar[str | None] = "agent"
    dead_letter_if_unrouted: ClassVar[bool] = False

    type: Literal["task.cancel_requested"] = "task.cancel_requested"
    agent: str = Field(min_length=1)
    reason: str = ""


class TaskCompleted(Event):
    """An agent finished a task.

    Fields:
        agent: Name of the agent that ran it.
        result: The task's result, any JSON value.
        usage: Tokens the attempt spent.
    """

    sender_field: ClassVar[str] = "agent"

    type: Literal["task.completed"] = "task.completed"
    agent: str = Field(min_length=1)
    result: JsonValue = None
    usage: TokenUsage = Field(default_factory=TokenUsage)


class TaskFailed(Event):
    """An attempt of a task failed.

    Fields:
        agent: Name of the agent that ran it (``""`` if it never reached one).
        error_type: Qualified name of the exception class, e.g. ``"ValueError"``.
        message: The error message.
        retryable: Whether another attempt may succeed.
        usage: Tokens the attempt spent before failing.
    """

    sender_field: ClassVar[str] = "agent"

    type: Literal["task.failed"] = "task.failed"
    agent: str = ""
    error_type: str = Field(min_length=1)
    message: str = ""
    retryable: bool = True
    usage: TokenUsage = Field(default_factory=TokenUsage)


class Handoff(Event):
    """An agent hands its task over to another agent.

    Fields:
        from_agent: The agent giving the task up.
        to_agent: The agent that should take it.
        reason: Why, in words.
        context: The slice of context handed over (not the whole history).
        usage: Tokens the attempt spent before handing off.
    """

    sender_field: ClassVar[str] = "from_agent"

    type: Literal["task.handoff"] = "task.handoff"
    from_agent: str = Field(min_length=1)
    to_agent: str = Field(min_length=1)
    reason: str = ""
    context: dict[str, JsonValue] = Field(default_factory=dict)
    usage: TokenUsage = Field(default_factory=TokenUsage)


class ApprovalRequested(Event):
    """A task that needs approval is ready; it waits for an :class:`ApprovalDecided`.

    Fields:
        agent: The agent (or capability) that would run it.
        description: What the task would do.
    """

    type: Literal["task.approval_requested"] = "task.approval_requested"
    agent: str = ""
    description: str = ""


class ApprovalDecided(Event):
    """Someone approved or rejected a task that waits for approval.

    Fields:
        approved: True to run the task, false to fail it.
        by: Who decided (a person, a policy).
        reason: Why, in words.
    """

    type: Literal["task.approval_decided"] = "task.approval_decided"
    approved: bool
    by: str = ""
    reason: str = ""


class TaskFinished(Event):
    """A task reached its terminal state; exactly one per task of a workflow.

    Fields:
        status: ``completed``, ``failed`` (after its last attempt) or ``cancelled``.
        attempts: Attempts made.
        agent: The agent of its last attempt.
        error: The cause, for a failed or cancelled task.
        error_kind: The cause's kind, for a failed or cancelled task (``None`` for a
            completed one, and in records written by 0.1.0, which lack it).
        result: The result of a completed task (what a resumed workflow reuses).
        usage: Tokens spent on all its attempts.
        duration: Seconds from its first start to its end (0 if it never started).
    """

    type: Literal["task.finished"] = "task.finished"
    status: Literal["completed", "failed", "cancelled"]
    attempts: int = Field(ge=0)
    agent: str = ""
    error: str = ""
    error_kind: FailureKind | None = None
    result: JsonValue = None
    usage: TokenUsage = Field(default_factory=TokenUsage)
    duration: float = Field(default=0.0, ge=0)
