"""Errors raised by the event bus and the event model."""

from __future__ import annotations

from typing import Any

import pydantic

__all__ = [
    "BusClosedError",
    "BusError",
    "ConfigurationError",
    "EventValidationError",
]


class BusError(Exception):
    """Base class of every error raised by :mod:`bus`."""


class ConfigurationError(BusError):
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
        if event_type is None and len(loc) > 1:
            loc = loc[1:]  # drop the union tag ("task.started", ...)
        field = ".".join(str(p) for p in loc)
        where = f"{event_type} field" if event_type else "Event field"
        message = f"{where} '{field}' is invalid: {first['msg']}."
        return cls(message, field=field, errors=errors)


class BusClosedError(BusError):
    """The bus was stopped; publish or subscribe was called on it afterwards."""
