"""The Event base (the envelope every event shares), its registry by ``type``, and DeadLetter.

Every event shares the envelope of ``shared/DESIGN.md``; the ``type`` field is the
discriminator of the :data:`AnyEvent` union, so any event parses back from JSON.
Trace context (``traceparent``/``tracestate``, W3C Trace Context) is empty while an
event travels in-process (the bus carries the span context beside it, see
:class:`bus.lowlevel.Envelope`) and is filled in when the event leaves the process or is stored.
:class:`DeadLetter` lives here as the bus's own event: what the bus could not deliver.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import pydantic
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

from ._errors import ConfigurationError, EventValidationError

__all__ = ["DeadLetter", "Event", "event_class"]

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
_BUILT_IN = f"{__name__.rpartition('.')[0]}."  # "bus.": built-in types live in its modules


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

    sender_field: ClassVar[str] = "source"
    """Name of the field naming who the event speaks for (an agent's outcome: the agent);
    across processes it is part of the subject, so a server's permissions can bind it."""

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
            if known is not None and known.__module__.startswith(_BUILT_IN):
                msg = (
                    f"Event type {tag!r} is {known.__name__}'s; give {cls.__name__} "
                    "a type of its own (e.g. 'acme.price_changed')."
                )
                raise ConfigurationError(msg)
            _TYPES[tag] = cls  # new, or a user's type defined again (a reloaded module)

    @property
    def sender(self) -> str:
        """Who the event speaks for: the value of :attr:`sender_field`."""
        return str(getattr(self, self.sender_field))

    @property
    def recipient(self) -> str | None:
        """The name this event is addressed to, or ``None`` for a broadcast event."""
        field = self.recipient_field
        return None if field is None else str(getattr(self, field))


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
