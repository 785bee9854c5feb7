"""Reading events back: from JSON, from the wire, and from logs written by older releases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic
import pydantic_core
from pydantic import BaseModel

from ._any_event import AnyEvent
from ._errors import EventValidationError
from ._event import Event, event_class

__all__ = ["EVENT_SCHEMA_VERSION", "parse_event", "read_stored_event"]

EVENT_SCHEMA_VERSION = 1
"""The version of the event schema this release writes with every stored event.

The rule, for logs that outlive the code that wrote them: a release reads the events
of every older version (each version's change is undone by an upgrade step below), and
of newer versions as far as it knows them. Fields a reader does not know are dropped,
whatever the version, so adding a field (with a default) needs no new version; a
release that changes the meaning of a field, removes one, or adds a value a reader
would refuse (a new ``status``) raises the version and adds the step. Readers skip
events of a type they do not know (counted and logged); one of a known type that still
cannot be read is an error, never silently skipped.

Versions: ``0`` — events stored before versions were stored (actorchestra 0.1.0);
``1`` — the same fields, the version stored beside each event.
"""

_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    0: lambda fields: fields,  # 0 -> 1: only the version's own record is new
}

_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(AnyEvent)


def parse_event(data: str | bytes | dict[str, Any]) -> Event:
    """Parse any event from JSON text or a decoded JSON object.

    Built-in event types and users' own :class:`Event` subclasses (once their module
    is imported, see :func:`bus.event_class`) are both read.

    Args:
        data: JSON text/bytes, or a dict as produced by ``event.model_dump(mode="json")``.

    Returns:
        The event, as an instance of its concrete type.

    Raises:
        EventValidationError: The JSON does not parse, ``type`` names no known event, or
            a field is missing or invalid; the message and ``field`` name the first
            offending field (never its value).

    Example:
        >>> from bus import TaskStarted
        >>> e = parse_event(TaskStarted(agent="legal", task_id="t2").model_dump_json())
        >>> type(e).__name__, e.agent
        ('TaskStarted', 'legal')
    """
    if isinstance(data, str | bytes):
        try:
            data = pydantic_core.from_json(data)
        except ValueError as exc:
            raise EventValidationError(f"Event is not valid JSON: {exc}.", field="") from None
    try:
        event: Event = _ADAPTER.validate_python(data)
    except pydantic.ValidationError as exc:
        error = EventValidationError.of(exc, None)
        fields = data if isinstance(data, dict) else {}
        cls = event_class(str(fields.get("type")))
        if error.field != "type" or cls is None:
            raise error from None
        return cls(**fields)
    return event


def read_stored_event(fields: dict[str, Any], version: int) -> Event:
    """An event stored under schema ``version``, as this release's model of it.

    Older versions are upgraded step by step; fields this release does not know are
    dropped (see :data:`EVENT_SCHEMA_VERSION`).

    Args:
        fields: The stored event, as a JSON object.
        version: The schema version it was stored with.

    Returns:
        The event.

    Raises:
        EventValidationError: The event's type is unknown here (``field`` is
            ``"type"``), or a field is invalid.

    Example:
        >>> e = read_stored_event({"type": "task.started", "agent": "a", "mood": 1}, 2)
        >>> type(e).__name__, e.agent
        ('TaskStarted', 'a')
    """
    for step in range(max(0, version), EVENT_SCHEMA_VERSION):
        fields = _UPGRADES[step](fields)
    cls = event_class(str(fields.get("type")))
    if cls is not None:
        fields = _known_fields(cls, fields)
    return parse_event(fields)


def _known_fields(model: type[BaseModel], fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` without the keys ``model`` (and the models nested in it) does not have."""
    known: dict[str, Any] = {}
    for name, value in fields.items():
        info = model.model_fields.get(name)
        if info is None:
            continue
        nested = info.annotation
        if isinstance(value, dict) and isinstance(nested, type) and issubclass(nested, BaseModel):
            known[name] = _known_fields(nested, value)
        else:
            known[name] = value
    return known
