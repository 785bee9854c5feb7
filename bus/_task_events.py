"""A task's events: started, cancelled, completed, failed, handed off, approved, finished.

The events that end an attempt (:class:`TaskCompleted`, :class:`TaskFailed`,
:class:`Handoff`) carry the attempt's token back to the orchestrator, which issued it
with :class:`TaskStarted`: only the agent that was given an attempt can end it
(``shared/DESIGN.md``, protocol invariant 4, "Static graph and identity"). What the
orchestrator refuses is reported as :class:`EventRejected`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import ConfigDict, Field, JsonValue

from ._event import Event
from ._failure_kind import FailureKind
from ._token_usage import TokenUsage

__all__ = [
    "ApprovalDecided",
    "ApprovalRequested",
    "CancelRequested",
    "EventRejected",
    "Handoff",
    "TaskCompleted",
    "TaskFailed",
    "TaskFinished",
    "TaskProgress",
    "TaskStarted",
]


class TaskStarted(Event):
    """The orchestrator asks ``agent`` to run a task (addressed to ``agent``).

    Fields:
        agent: Name of the agent that must run the task.
        description: What to do, in words.
        inputs: Results of the task's dependencies, by task id.
        context: Extra context, e.g. the slice handed over by a :class:`Handoff`.
        missing: The task's optional dependencies that did not complete (so are not in
            ``inputs``), by task id: their status and cause, e.g.
            ``"failed: TaskError: feed down"``.
        handoff_depth: How many handoffs led to this start (0 for none).
        timeout: Seconds the attempt may run, ``None`` for no limit. The orchestrator
            counts them from when it sent the attempt, then gives up on it and asks the
            agent to cancel it; the agent's :class:`actors.Cancellation` also runs out
            that long after the agent started it.
        attempt_token: The attempt's token: 128 random bits (``secrets.token_urlsafe``,
            22 characters), new with every ``TaskStarted`` the orchestrator publishes
            (each attempt, each handoff, each resume). The agent copies it onto the
            outcome; the orchestrator applies an outcome only if it carries the token
            it issued for that workflow, task and attempt (``""``: none, as in records
            written before it existed). A secret while the attempt runs: never put in a
            span, a metric or a log line, and left out of ``repr``. Code that sees every
            event on an in-process bus sees it too: it keeps out the code that was not
            given the attempt, not code that reads the bus's ``TaskStarted`` events.
        replica: For a replicated attempt (``Task.redundancy``), which of its replicas
            this is (1, 2, ...; each on another agent, with its own token); 0 otherwise.
    """

    recipient_field: ClassVar[str | None] = "agent"

    type: Literal["task.started"] = "task.started"
    agent: str = Field(min_length=1)
    description: str = ""
    inputs: dict[str, JsonValue] = Field(default_factory=dict)
    context: dict[str, JsonValue] = Field(default_factory=dict)
    missing: dict[str, str] = Field(default_factory=dict)
    handoff_depth: int = Field(default=0, ge=0)
    timeout: float | None = Field(default=None, gt=0)
    attempt_token: str = Field(default="", max_length=256, repr=False)
    replica: int = Field(default=0, ge=0)


class CancelRequested(Event):
    """The orchestrator asks ``agent`` to stop an attempt (addressed to ``agent``).

    Agents take it with a callable subscription, in the publisher's thread, not through
    their mailbox (busy with the attempt): the attempt's :class:`actors.Cancellation`
    is cancelled at once. Nobody taking it (the agent is gone) is not a dead letter.

    Fields:
        agent: The agent running the attempt (``workflow_id``, ``task_id`` and
            ``attempt`` name it).
        reason: Why: ``timeout``, ``cancelled: <why>`` or ``shutdown``.
        attempt_token: The token of the attempt to stop (its ``TaskStarted``'s); an
            agent cancels its attempt only if they match, so no one else can stop it.
    """

    recipient_field: ClassVar[str | None] = "agent"
    dead_letter_if_unrouted: ClassVar[bool] = False

    type: Literal["task.cancel_requested"] = "task.cancel_requested"
    agent: str = Field(min_length=1)
    reason: str = ""
    attempt_token: str = Field(default="", max_length=256, repr=False)


class TaskCompleted(Event):
    """An agent finished a task.

    Fields:
        agent: Name of the agent that ran it.
        result: The task's result, any JSON value.
        usage: Tokens the attempt spent.
        model: The model the attempt's tokens were spent on (its request name, the
            key of :class:`actors.Prices`); ``""`` when no model or more than one was
            used, and in records written before this field existed.
        attempt_token: The attempt's token, copied from its :class:`TaskStarted`.
    """

    sender_field: ClassVar[str] = "agent"

    type: Literal["task.completed"] = "task.completed"
    agent: str = Field(min_length=1)
    result: JsonValue = None
    usage: TokenUsage = Field(default_factory=TokenUsage)
    model: str = ""
    attempt_token: str = Field(default="", max_length=256, repr=False)


class TaskFailed(Event):
    """An attempt of a task failed.

    Fields:
        agent: Name of the agent that ran it (``""`` if it never reached one).
        error_type: Qualified name of the exception class, e.g. ``"ValueError"``.
        message: The error message.
        retryable: Whether another attempt may succeed.
        usage: Tokens the attempt spent before failing.
        model: The model the attempt's tokens were spent on (its request name, the
            key of :class:`actors.Prices`); ``""`` when no model or more than one was
            used, and in records written before this field existed.
        attempt_token: The attempt's token, copied from its :class:`TaskStarted`.
    """

    sender_field: ClassVar[str] = "agent"

    type: Literal["task.failed"] = "task.failed"
    agent: str = ""
    error_type: str = Field(min_length=1)
    message: str = ""
    retryable: bool = True
    usage: TokenUsage = Field(default_factory=TokenUsage)
    model: str = ""
    attempt_token: str = Field(default="", max_length=256, repr=False)


class Handoff(Event):
    """An agent hands its task over to another agent.

    Fields:
        from_agent: The agent giving the task up.
        to_agent: The agent that should take it.
        reason: Why, in words.
        context: The slice of context handed over (not the whole history).
        usage: Tokens the attempt spent before handing off.
        model: The model the attempt's tokens were spent on (its request name, the
            key of :class:`actors.Prices`); ``""`` when no model or more than one was
            used, and in records written before this field existed.
        attempt_token: The attempt's token, copied from its :class:`TaskStarted`.
    """

    sender_field: ClassVar[str] = "from_agent"

    type: Literal["task.handoff"] = "task.handoff"
    from_agent: str = Field(min_length=1)
    to_agent: str = Field(min_length=1)
    reason: str = ""
    context: dict[str, JsonValue] = Field(default_factory=dict)
    usage: TokenUsage = Field(default_factory=TokenUsage)
    model: str = ""
    attempt_token: str = Field(default="", max_length=256, repr=False)


class TaskProgress(Event):
    """An agent's attempt made progress: a piece of a streamed model answer.

    Published by :class:`actors.LLMAgent` with ``stream=True`` while a model call's
    answer streams in, before the attempt's outcome, in order (``sequence``); a
    broadcast nobody needs to take. It carries the model's text: like a result, it goes
    to subscribers and any event log, never into a span, a metric or a log line.

    Fields:
        agent: The agent running the attempt.
        model_call: Which model call of the attempt it belongs to (1-based; a tool loop
            makes several).
        sequence: Its place among the attempt's progress events (0-based, no gaps).
        text: The answer's text since the previous progress event (``""`` when only
            tool calls came).
        chunks: Stream chunks with text received so far in this attempt (roughly
            tokens: servers send about one token a chunk).
    """

    sender_field: ClassVar[str] = "agent"

    # pydantic before 2.10 reserves the prefix "model_" (a warning, an error under our
    # test settings); model_call shadows none of BaseModel's names.
    model_config = ConfigDict(protected_namespaces=())

    type: Literal["task.progress"] = "task.progress"
    agent: str = Field(min_length=1)
    model_call: int = Field(default=1, ge=1)
    sequence: int = Field(default=0, ge=0)
    text: str = ""
    chunks: int = Field(default=0, ge=0)


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
    """Someone approved or rejected a task that waits for approval: the orchestrator's record.

    Decisions are made through the approver API (``Team.approve``,
    ``actors.lowlevel.approve``), which tells the orchestrator; it publishes this event
    when it applies one (so the event log keeps it for a resume, and observers see it).
    One published by anyone else is not applied: it is rejected (:class:`EventRejected`).

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
        status: ``completed``, ``failed`` (after its last attempt), ``cancelled`` or
            ``skipped`` (never ran: its condition was false, or a dependency it
            requires was skipped).
        attempts: Attempts made.
        agent: The agent of its last attempt.
        error: The cause, for a failed or cancelled task; why, for a skipped one.
        error_kind: The cause's kind, for a failed or cancelled task (``None`` for a
            completed or skipped one, and in records written by 0.1.0, which lack it).
        result: The result of a completed task (what a resumed workflow reuses).
        usage: Tokens spent on all its attempts.
        usage_by_model: The same tokens by model (``""``: not known), what its cost is
            computed from; empty in records written before this field existed.
        duration: Seconds from its first start to its end (0 if it never started).
    """

    type: Literal["task.finished"] = "task.finished"
    status: Literal["completed", "failed", "cancelled", "skipped"]
    attempts: int = Field(ge=0)
    agent: str = ""
    error: str = ""
    error_kind: FailureKind | None = None
    result: JsonValue = None
    usage: TokenUsage = Field(default_factory=TokenUsage)
    usage_by_model: dict[str, TokenUsage] = Field(default_factory=dict)
    duration: float = Field(default=0.0, ge=0)


class EventRejected(Event):
    """The orchestrator refused an event that claimed what its publisher may not claim.

    Published by the orchestrator (also counted in the
    ``actorchestra.orchestrator.rejected_events`` metric and logged at WARNING). The
    envelope's ``workflow_id``, ``task_id`` and ``attempt`` are the rejected event's,
    ``causation_id`` its ``id``. It never holds the rejected event's payload or token.

    Fields:
        reason: ``forged outcome``: a ``TaskCompleted``, ``TaskFailed``, ``Handoff``,
            ``ChildCrashed`` or ``DeadLetter`` of a ``TaskStarted`` without the token
            the orchestrator issued for that attempt; ``forged approval``: an
            ``ApprovalDecided`` the orchestrator did not publish itself.
        rejected_type: The rejected event's ``type``, e.g. ``"task.completed"``.
        publisher: The rejected event's ``source`` (as it claimed, unverified).
        detail: What was wrong, e.g. ``"no attempt token"``.
    """

    type: Literal["task.event_rejected"] = "task.event_rejected"
    reason: Literal["forged outcome", "forged approval"]
    rejected_type: str = ""
    publisher: str = ""
    detail: str = ""
