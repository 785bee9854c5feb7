"""Errors raised by the event bus and the event model."""

from __future__ import annotations

from typing import Any

import pydantic

__all__ = [
    "ActorchestraError",
    "BusClosedError",
    "BusError",
    "ConfigurationError",
    "EventValidationError",
    "OperationalError",
    "UsageError",
    "describe_validation_error",
    "error_text",
]


# Kinds of pydantic error whose message never quotes the input: theirs is shown; for
# any other kind (a union tag, a user's validator, ...) only the kind is.
_SAFE_MESSAGES = frozenset(
    {
        "missing",
        "extra_forbidden",
        "finite_number",
        "json_invalid",
        "json_type",
        "int_parsing",
        "int_type",
        "int_from_float",
        "float_parsing",
        "float_type",
        "bool_parsing",
        "bool_type",
        "string_type",
        "bytes_type",
        "list_type",
        "tuple_type",
        "dict_type",
        "model_type",
        "model_attributes_type",
        "none_required",
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "too_short",
        "too_long",
        "string_too_short",
        "string_too_long",
        "literal_error",
        "enum",
        "timezone_aware",
        "datetime_parsing",
        "datetime_type",
        "frozen_instance",
    }
)


def describe_validation_error(exc: pydantic.ValidationError, *, skip: int = 0) -> str:
    """Pydantic's errors as ``where: what`` phrases that never quote the input.

    Errors that may reach logs, spans or the event log go through this, since the input
    may be a model's output (README, "Privacy"). ``where`` keeps list indices and
    names that look like field names (other parts, e.g. dict keys, show as ``*``);
    ``what`` is pydantic's message for kinds of error that never quote the input, else
    the kind (e.g. ``value_error``).

    Args:
        exc: What pydantic raised.
        skip: Leading parts of each location to leave out (e.g. a union's tag).

    Returns:
        The phrases, joined with ``"; "``.

    Example:
        >>> import pydantic
        >>> try:
        ...     pydantic.TypeAdapter(dict[str, int]).validate_python({"Jane Roe": "x"})
        ... except pydantic.ValidationError as exc:
        ...     describe_validation_error(exc)
        '*: Input should be a valid integer, unable to parse string as an integer'
    """
    return "; ".join(f"{where}: {what}" for where, what in _phrases(exc, skip))


def error_text(exc: BaseException) -> str:
    """What may be said of ``exc`` in telemetry: its message, unless that quotes input.

    A pydantic error (whose message quotes the input, maybe a model's text) is told by
    :func:`describe_validation_error`; any other exception by ``str(exc)``.
    """
    if isinstance(exc, pydantic.ValidationError):
        return describe_validation_error(exc)
    return str(exc)


def _phrases(exc: pydantic.ValidationError, skip: int) -> list[tuple[str, str]]:
    phrases = []
    for error in exc.errors(include_url=False):
        parts = [
            str(p) if isinstance(p, int) or (p.isidentifier() and len(p) <= 64) else "*"
            for p in error["loc"][skip:]
        ]
        kind = error["type"]
        phrases.append(
            (".".join(parts) or "value", error["msg"] if kind in _SAFE_MESSAGES else kind)
        )
    return phrases


class ActorchestraError(Exception):
    """Base class of every error raised by :mod:`bus`, :mod:`memory` and :mod:`actors`.

    Each error is also one of two kinds, as pydantic-ai keeps ``UserError`` apart:
    a :class:`UsageError` (the calling code must change) or an :class:`OperationalError`
    (a condition met at run time: a closed bus, a failed task, a crashed tree).
    """


class UsageError(ActorchestraError):
    """A usage mistake: the calling code must change (every ``ConfigurationError``)."""


class OperationalError(ActorchestraError):
    """A condition met at run time, not a mistake in the calling code.

    (The term is the Python DB-API's, PEP 249.)
    """


class BusError(ActorchestraError):
    """Base class of every error raised by :mod:`bus`."""


class ConfigurationError(BusError, UsageError):
    """A usage mistake: a bad subscription, topic or argument."""


class EventValidationError(BusError, ValueError):
    """An event could not be built or parsed.

    Raised by every event constructor (``TaskStarted(...)``) and by
    :func:`bus.parse_event`. The message names the field and what is wrong with it,
    never the value (an event may carry a model's text, which must not reach logs or
    spans through an error); the pydantic error is not chained, for the same reason.

    Attributes:
        field: The dotted path of the first offending field (``"type"`` for an unknown
            event type, ``""`` for JSON that does not parse at all).
        errors: pydantic's error list, without input values
            (``ValidationError.errors(include_input=False)``).
    """

    def __init__(
        self, message: str, *, field: str, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.field = field
        self.errors = errors or []

    @classmethod
    def of(cls, exc: pydantic.ValidationError, event_type: str | None) -> EventValidationError:
        """The error for pydantic's ``exc``, raised validating an event.

        Returns:
            The error (the one an event's constructor raised, if pydantic wrapped it).

        Args:
            exc: What pydantic raised.
            event_type: The class being built (its errors' locations start at the
                field), or ``None`` for the union of every event type (its locations
                start with the ``type`` tag).
        """
        first = exc.errors()[0]
        inner = first.get("ctx", {}).get("error")
        if isinstance(inner, EventValidationError):
            return inner  # raised by an event's constructor that pydantic called
        errors = [dict(e) for e in exc.errors(include_input=False, include_url=False)]
        kind, loc = first["type"], first["loc"]
        if kind == "json_invalid":
            return cls(f"Event is not valid JSON: {first['msg']}.", field="", errors=errors)
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            tag = first.get("input", {})
            got = tag.get("type") if isinstance(tag, dict) else None
            message = f"Event field 'type' is {got!r}, which names no known event type."
            return cls(message, field="type", errors=errors)
        if len(loc) <= 1 and kind in ("model_attributes_type", "model_type", "dict_type"):
            return cls("Event is not a JSON object.", field="", errors=errors)
        skip = 1 if event_type is None and len(loc) > 1 else 0  # the union's tag
        field, what = _phrases(exc, skip)[0]
        where = f"{event_type} field" if event_type else "Event field"
        message = f"{where} '{field}' is invalid: {what}."
        return cls(message, field=field, errors=errors)


class BusClosedError(BusError, OperationalError):
    """The bus was stopped; publish or subscribe was called on it afterwards."""
