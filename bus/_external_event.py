"""ExternalEvent: a CloudEvent from another producer, of a type no event class claims."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue

from ._event import Event

__all__ = ["ExternalEvent"]


class ExternalEvent(Event):
    """A CloudEvent read from the wire whose ``type`` no :class:`Event` subclass has.

    A CloudEvent whose ``type`` is the ``type`` of an event class (a user's
    ``type: Literal["com.example.order.created"]``, say) is read as that class; any
    other is kept whole here, so it can be subscribed to, logged and read back.

    Fields:
        ce_type: The CloudEvents ``type``, e.g. ``"com.example.order.created"``.
        ce_source: The CloudEvents ``source`` (a URI-reference), as sent.
        subject: The CloudEvents ``subject``, ``""`` if absent.
        datacontenttype: The media type of ``data`` (RFC 2046), ``""`` if absent.
        data: The event data: decoded JSON for a JSON media type, text otherwise.
        data_base64: Binary event data, base64 as the JSON event format carries it.
        extensions: The other context attributes (CloudEvents extension attributes),
            by name.
    """

    type: Literal["bus.external"] = "bus.external"
    ce_type: str = Field(min_length=1)
    ce_source: str = Field(min_length=1)
    subject: str = ""
    datacontenttype: str = ""
    data: JsonValue = None
    data_base64: str | None = None
    extensions: dict[str, JsonValue] = Field(default_factory=dict)
