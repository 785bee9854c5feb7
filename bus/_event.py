"""The event model: a frozen pydantic envelope and the protocol's event types.

Every event shares the envelope of ``shared/DESIGN.md``; the ``type`` field is the
discriminator of the :data:`AnyEvent` union, so any event parses back from JSON.
Trace context (``traceparent``/``tracestate``, W3C Trace Context) is empty while an
event travels in-process (the bus carries the span context beside it, see
:class:`bus.Envelope`) and is filled in when the event leaves the process or is stored.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self

import pydantic
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

from ._errors import ConfigurationError, EventValidationError
from ._failure_kind import FailureKind

__all__ = [
    "ActorTerminated",
    "AnyEvent",
    "ApprovalDecided",
    "ApprovalRequested",
    "CancelRequested",
    "ChildCrashed",
    "ChildRestarted",
    "ChildStarted",
    "DeadLetter",
    "Event",
    "Handoff",
    "SupervisorEscalated",
    "TaskCompleted",
    "TaskFailed",
    "TaskFinished",
    "TaskStarted",
    "TokenUsage",
    "WorkflowFinished",
    "WorkflowResumed",
    "WorkflowStarted",
    "event_class",
]


_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count()


def _new_id() -> str:
    # A random 64-bit per-process prefix plus a counter: unique like a UUID4 hex
    # (32 hex digits) at a tenth of the cost (uuid4 reads os.urandom each time).
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def _now() -> datetime:
    return datetime.now(UTC)


_TYPES: dict[str, type[Event]] = {}  # event classes by their ``type``, users' included
_TYPES_LOCK = threading.Lock()


def event_class(event_type: str) -> type[Event] | None:
    """The event class whose ``type`` is ``event_type``, or ``None`` if none was defined.

    Args:
        event_type: An event's ``type``, e.g. ``"task.started"``.

    Returns:
        The class, or ``None``.

    Every subclass of :class:`Event` with a ``type`` literal is known here once its
    module is imported, users' own event types included (so :func:`parse_event` and the
    event logs read them back). A subclass repeating its parent's ``type`` does not
    replace the parent; defining a user type under a built-in type's name raises
    :class:`ConfigurationError` at class creation.

    Example:
        >>> event_class("task.started").__name__
        'TaskStarted'
    """
    return _TYPES.get(event_type)


class TokenUsage(BaseModel):
    """Tokens spent on model calls (counts, as reported by the model's ``usage``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        if not (other.input_tokens or other.output_tokens):
            return self  # frozen, so sharing is safe; saves a validation per hop
        if not (self.input_tokens or self.output_tokens):
            return other
        return TokenUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class Event(BaseModel):
    """The envelope every event shares; subclasses add a ``type`` literal and a payload.

    Fields:
        id: Unique id of this event (32 hex digits: a random per-process prefix and a counter).
        type: Discriminator, e.g. ``"task.started"``.
        time: When the event was created: timezone-aware (UTC unless given otherwise).
        source: Name of the publishing actor (CloudEvents ``source``).
        workflow_id: The workflow the event belongs to, ``""`` for none.
        task_id: The task the event is about, ``""`` for none.
        causation_id: ``id`` of the event that caused this one, ``""`` for none.
        attempt: 1-based attempt number of the task.
        traceparent: W3C ``traceparent`` header, set only out of process.
        tracestate: W3C ``tracestate`` header, set only out of process.
    """

    # JSON has no NaN or infinity: a non-finite number is refused where it enters an
    # event (pydantic would otherwise serialize it as null, changing it silently).
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    recipient_field: ClassVar[str | None] = None
    """Name of the field that addresses the event to one subscriber, if any."""

    dead_letter_if_unrouted: ClassVar[bool] = True
    """Whether an addressed event that no subscriber of its recipient took is a dead letter."""

    starts_trace: ClassVar[bool] = True
    """Whether publishing it outside any trace starts one (routine lifecycle events do not,
    so an application's start-up and shut-down do not litter Jaeger with one-span traces)."""

    id: str = Field(default_factory=_new_id, min_length=1)
    type: str
    time: AwareDatetime = Field(default_factory=_now)
    source: str = ""
    workflow_id: str = ""
    task_id: str = ""
    causation_id: str = ""
    attempt: int = Field(default=1, ge=1)
    traceparent: str = ""
    tracestate: str = ""

    if not TYPE_CHECKING:  # type checkers keep pydantic's field-by-field signature

        def __init__(self, /, **data: Any) -> None:  # noqa: ANN401 - pydantic's
            """Build the event from its fields.

            Raises:
                EventValidationError: A field is missing or invalid (a non-finite number
                    in a JSON field included); the message and ``field`` name the first.
            """
            try:
                # What BaseModel.__init__ does, one call shorter (a hop builds several
                # events): ``__pydantic_validator__`` is a documented attribute of every
                # model, and ``self_instance`` the documented pydantic-core parameter for
                # validating from ``__init__``.
                self.__pydantic_validator__.validate_python(data, self_instance=self)
            except pydantic.ValidationError as exc:
                # Not chained: pydantic's message holds the input, maybe a model's text.
                raise EventValidationError.of(exc, type(self).__name__) from None

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:  # noqa: ANN401 - pydantic's
        """Pydantic's ``model_validate``, raising :class:`EventValidationError`.

        As the constructor does: never pydantic's error, whose message quotes the input.

        Raises:
            EventValidationError: ``obj`` is not a valid event of this type.
        """
        try:
            return super().model_validate(obj, **kwargs)
        except pydantic.ValidationError as exc:
            raise EventValidationError.of(exc, cls.__name__) from None

    @classmethod
    def model_validate_json(
        cls,
        json_data: str | bytes | bytearray,
        **kwargs: Any,  # noqa: ANN401 - pydantic's
    ) -> Self:
        """Pydantic's ``model_validate_json``, raising :class:`EventValidationError`.

        Raises:
            EventValidationError: ``json_data`` is not a valid event of this type.
        """
        try:
            return super().model_validate_json(json_data, **kwargs)
        except pydantic.ValidationError as exc:
            raise EventValidationError.of(exc, cls.__name__) from None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:  # noqa: ANN401
        """Make an event type known to :func:`event_class` by its ``type`` literal."""
        super().__pydantic_init_subclass__(**kwargs)
        tag = cls.model_fields["type"].default
        if not isinstance(tag, str):
            return
        with _TYPES_LOCK:
            known = _TYPES.get(tag)
            if known is not None and issubclass(cls, known):
                return  # a subclass repeating its parent's type
            if known is not None and known.__module__ == __name__:
                msg = (
                    f"Event type {tag!r} is {known.__name__}'s; give {cls.__name__} "
                    "a type of its own (e.g. 'acme.price_changed')."
                )
                raise ConfigurationError(msg)
            _TYPES[tag] = cls  # new, or a user's type defined again (a reloaded module)

    @property
    def recipient(self) -> str | None:
        """The name this event is addressed to, or ``None`` for a broadcast event."""
        field = self.recipient_field
        return None if field is None else str(getattr(self, field))


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

    type: Literal["task.handoff"] = "task.handoff"
    from_agent: str = Field(min_length=1)
    to_agent: str = Field(min_length=1)
    reason: str = ""
    context: dict[str, JsonValue] = Field(default_factory=dict)
    usage: TokenUsage = Field(default_factory=TokenUsage)


class DeadLetter(Event):
    """An event that could not be delivered to a subscriber.

    Fields:
        subscriber: Name of the subscriber that could not take it.
        reason: Why, e.g. ``"no subscriber"`` or ``"subscriber stopped"``.
        event: The undelivered event.
    """

    type: Literal["bus.dead_letter"] = "bus.dead_letter"
    subscriber: str = ""
    reason: str = Field(min_length=1)
    event: dict[str, JsonValue]


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
    """

    type: Literal["supervisor.child_crashed"] = "supervisor.child_crashed"
    supervisor: str
    child: str
    error_type: str
    message: str = ""


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


class WorkflowStarted(Event):
    """The orchestrator accepted a plan: the record a protocol check or a resume starts from.

    Fields:
        name: The workflow's name.
        plan: The plan, as ``Plan.model_dump(mode="json")``.
        agents: The declared agents (the static graph).
    """

    type: Literal["workflow.started"] = "workflow.started"
    name: str = ""
    plan: dict[str, JsonValue]
    agents: list[str] = Field(default_factory=list)


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


class WorkflowResumed(Event):
    """A workflow was rebuilt from the event log and continues (after its process died).

    Fields:
        name: The workflow's name.
        reused: Tasks that had ended before, whose outcomes are kept (not run again).
        restarted: Tasks that were in flight, started again.
    """

    type: Literal["workflow.resumed"] = "workflow.resumed"
    name: str = ""
    reused: list[str] = Field(default_factory=list)
    restarted: list[str] = Field(default_factory=list)


class WorkflowFinished(Event):
    """Every task of a workflow is terminal.

    Fields:
        status: ``completed`` if every task completed, else ``failed`` or ``cancelled``.
        duration: Seconds from acceptance to the end.
    """

    type: Literal["workflow.finished"] = "workflow.finished"
    status: Literal["completed", "failed", "cancelled"]
    duration: float = Field(ge=0)


AnyEvent = Annotated[
    TaskStarted
    | CancelRequested
    | ApprovalRequested
    | ApprovalDecided
    | WorkflowStarted
    | TaskFinished
    | WorkflowFinished
    | WorkflowResumed
    | ActorTerminated
    | TaskCompleted
    | TaskFailed
    | Handoff
    | DeadLetter
    | ChildStarted
    | ChildCrashed
    | ChildRestarted
    | SupervisorEscalated,
    Field(discriminator="type"),
]
"""Union of every event type, discriminated on ``type``."""
