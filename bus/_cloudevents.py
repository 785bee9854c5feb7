"""Events on the wire as CloudEvents 1.0: the JSON event format, in NATS messages.

Written in structured content mode, as the NATS protocol binding (CloudEvents 1.0.2)
requires: the message payload is the JSON event format, ``content-type:
application/cloudevents+json``. Read in both modes: structured, and binary (the binding's
work-in-progress 1.0.3: attributes in ``ce-`` headers, the data as the payload), so an
event from any producer that follows the specification can be read.

The mapping of an :class:`Event`:

* ``id``, ``time`` → ``id``, ``time`` (RFC 3339); ``specversion`` is ``1.0``;
* ``type`` → ``io.actorchestra.<type>`` (reverse-DNS, as the spec recommends); a user's
  type is prefixed too, so ``acme.price_changed`` is ``io.actorchestra.acme.price_changed``;
* ``source`` → the URI-reference ``/actorchestra/<source>`` (percent-encoded;
  ``/actorchestra`` for an empty source);
* ``workflow_id``, ``task_id``, ``causation_id``, ``attempt`` → the extension
  attributes ``workflowid``, ``taskid``, ``causationid``, ``attempt`` (extension names
  are lowercase alphanumerics; empty ones are left out);
* every other field → ``data``, a JSON object, ``datacontenttype: application/json``;
* ``traceparent``/``tracestate`` (W3C Trace Context) → message headers of those names,
  as the CloudEvents distributed-tracing extension says for protocols with headers.

A CloudEvent whose ``type`` is not ours is read as the event class of that ``type`` if
one exists (see :func:`bus.event_class`), else as an :class:`ExternalEvent`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

import pydantic_core

from ._envelope import Envelope
from ._errors import EventValidationError
from ._event import Event, event_class
from ._external_event import ExternalEvent
from ._tracing import remote_span_context, traceparent

__all__ = [
    "SOURCE_ROOT",
    "STRUCTURED",
    "TYPE_PREFIX",
    "cloudevent_fields",
    "read_cloudevent",
    "to_cloudevent",
    "write_cloudevent",
]

SPEC_VERSION = "1.0"
TYPE_PREFIX = "io.actorchestra."
"""What our events' CloudEvents ``type`` starts with (reverse-DNS)."""
SOURCE_ROOT = "/actorchestra"
"""The URI-reference our events' CloudEvents ``source`` starts with."""
STRUCTURED = "application/cloudevents+json"
"""The ``content-type`` of a CloudEvent in structured content mode, JSON event format."""
JSON = "application/json"

_REQUIRED = ("specversion", "id", "source", "type")
_CORE = frozenset({*_REQUIRED, "time", "datacontenttype", "dataschema", "subject"})
_ENVELOPE = frozenset(
    {"id", "type", "time", "source", "workflow_id", "task_id", "causation_id", "attempt"}
    | {"traceparent", "tracestate"}
)
_EXTENSIONS = {
    "workflow_id": "workflowid",
    "task_id": "taskid",
    "causation_id": "causationid",
    "attempt": "attempt",
}
_JSON_TYPE = re.compile(r"^(application|text)/([\w.+-]*\+)?json\s*(;.*)?$", re.IGNORECASE)


def to_cloudevent(event: Event) -> dict[str, Any]:
    """``event`` as a CloudEvent in the JSON event format (a dict ready for JSON).

    Example:
        >>> from bus import TaskStarted
        >>> ce = to_cloudevent(TaskStarted(agent="legal", task_id="t2", source="orchestrator"))
        >>> ce["type"], ce["source"], ce["taskid"], ce["data"]["agent"]
        ('io.actorchestra.task.started', '/actorchestra/orchestrator', 't2', 'legal')
    """
    fields = event.model_dump(mode="json")
    if isinstance(event, ExternalEvent):  # as it came, with our extension attributes
        return _external_cloudevent(event, fields)
    cloudevent: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": event.id,
        "source": f"{SOURCE_ROOT}/{quote(event.source, safe='')}" if event.source else SOURCE_ROOT,
        "type": TYPE_PREFIX + event.type,
        "time": fields["time"],
        "datacontenttype": JSON,
    }
    for field, attribute in _EXTENSIONS.items():
        if fields[field] not in ("", None):
            cloudevent[attribute] = fields[field]
    cloudevent["data"] = {k: v for k, v in fields.items() if k not in _ENVELOPE}
    return cloudevent


def _external_cloudevent(event: ExternalEvent, fields: dict[str, Any]) -> dict[str, Any]:
    cloudevent: dict[str, Any] = {
        **fields["extensions"],
        "specversion": SPEC_VERSION,
        "id": event.id,
        "source": event.ce_source,
        "type": event.ce_type,
        "time": fields["time"],
    }
    for attribute in ("subject", "datacontenttype"):
        if fields[attribute]:
            cloudevent[attribute] = fields[attribute]
    for field, attribute in _EXTENSIONS.items():
        if fields[field] not in ("", None):
            cloudevent[attribute] = fields[field]
    if event.data_base64 is not None:
        cloudevent["data_base64"] = event.data_base64
    elif event.data is not None:
        cloudevent["data"] = fields["data"]
    return cloudevent


def write_cloudevent(envelope: Envelope[Event]) -> tuple[bytes, dict[str, str]]:
    """The NATS message of ``envelope``: its payload and headers (structured mode).

    Returns:
        The JSON event format as UTF-8 bytes, and the headers: ``content-type`` and,
        when the envelope has a span context, ``traceparent`` (and ``tracestate``).
    """
    headers = {"content-type": STRUCTURED}
    parent, state = traceparent(envelope)
    if parent:
        headers["traceparent"] = parent
        if state:
            headers["tracestate"] = state
    return pydantic_core.to_json(to_cloudevent(envelope.event)), headers


def read_cloudevent(payload: bytes, headers: Mapping[str, str] | None = None) -> Envelope[Event]:
    """The event of a NATS message carrying a CloudEvent, in either content mode.

    Binary mode when a header starts with ``ce-``, structured mode otherwise. The span
    context comes from the ``traceparent``/``tracestate`` headers (or, from producers
    that put them there, the attributes of those names).

    Args:
        payload: The message payload.
        headers: The message headers (names in any case), or ``None``.

    Returns:
        An envelope with the event and the publisher's span context, if any.

    Raises:
        EventValidationError: Not a CloudEvent 1.0 (``field`` names the missing or wrong
            attribute: ``specversion``, ``id``, ``source``, ``type``, ``data``), or its
            data is not a valid event of its type (``field`` names the field).
    """
    attributes, parent, state = _attributes(payload, headers)
    return Envelope(_event(attributes), remote_span_context(parent, state))


def cloudevent_fields(payload: bytes, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The fields of the event a CloudEvent message carries, not yet validated.

    For event logs that store CloudEvents: the result goes to
    :func:`bus.lowlevel.read_stored_event` with the schema version it was stored under,
    which drops fields this release does not know. Our own types come back under their
    ``type`` whether or not their class is imported here (so a reader can skip those it
    does not know); another producer's type without a class is an
    :class:`ExternalEvent`'s fields. ``traceparent``/``tracestate`` are filled from the
    headers, as :func:`to_wire` fills them.

    Raises:
        EventValidationError: Not a CloudEvent 1.0, or its ``data`` is not a JSON object
            where an event class needs one.

    Example:
        >>> from bus import TaskStarted
        >>> from bus.lowlevel import Envelope
        >>> payload, headers = write_cloudevent(Envelope(TaskStarted(agent="a", task_id="t")))
        >>> fields = cloudevent_fields(payload, headers)
        >>> fields["type"], fields["agent"], fields["task_id"]
        ('task.started', 'a', 't')
    """
    attributes, parent, state = _attributes(payload, headers)
    ce_type: str = attributes["type"]
    ours = ce_type.removeprefix(TYPE_PREFIX) if ce_type.startswith(TYPE_PREFIX) else None
    if ours is None and event_class(ce_type) is None:
        fields = _external(attributes).model_dump(mode="json")
    else:
        fields = {**_data(attributes), **_envelope_fields(attributes), "type": ours or ce_type}
    if parent:
        fields["traceparent"], fields["tracestate"] = parent, state
    return fields


def _attributes(
    payload: bytes, headers: Mapping[str, str] | None
) -> tuple[dict[str, Any], str, str]:
    """The CloudEvent's attributes, checked, and its ``traceparent`` and ``tracestate``."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    if any(name.startswith("ce-") for name in lowered):
        attributes = _binary(payload, lowered)
    else:
        attributes = _structured(payload)
    for name in _REQUIRED:
        value = attributes.get(name)
        if not isinstance(value, str) or not value:
            msg = f"Not a CloudEvent: the attribute {name!r} is missing or not a non-empty string."
            raise EventValidationError(msg, field=name)
    if attributes["specversion"] != SPEC_VERSION:
        msg = f"CloudEvents specversion {attributes['specversion']!r} is not {SPEC_VERSION!r}."
        raise EventValidationError(msg, field="specversion")
    parent = lowered.get("traceparent") or attributes.get("traceparent") or ""
    state = lowered.get("tracestate") or attributes.get("tracestate") or ""
    return attributes, str(parent), str(state)


def _structured(payload: bytes) -> dict[str, Any]:
    try:
        attributes = pydantic_core.from_json(payload)
    except ValueError as exc:
        msg = f"A structured CloudEvent is not valid JSON: {exc}."
        raise EventValidationError(msg, field="") from None
    if not isinstance(attributes, dict):
        msg = "A structured CloudEvent must be a JSON object."
        raise EventValidationError(msg, field="")
    return attributes


def _binary(payload: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        name[3:]: unquote(value) for name, value in headers.items() if name.startswith("ce-")
    }
    media = headers.get("content-type", "")
    if media:
        attributes["datacontenttype"] = media
    if payload:
        if not media or _JSON_TYPE.match(media):
            attributes["data"] = _structured_data(payload)
        else:
            try:
                attributes["data"] = payload.decode()
            except UnicodeDecodeError:
                attributes["data_base64"] = base64.b64encode(payload).decode()
    return attributes


def _structured_data(payload: bytes) -> Any:  # noqa: ANN401 - any JSON value
    try:
        return pydantic_core.from_json(payload)
    except ValueError:
        msg = "The CloudEvent's data is not the JSON its content-type says."
        raise EventValidationError(msg, field="data") from None


def _event(attributes: dict[str, Any]) -> Event:
    ce_type: str = attributes["type"]
    ours = ce_type.removeprefix(TYPE_PREFIX) if ce_type.startswith(TYPE_PREFIX) else None
    cls = event_class(ours if ours is not None else ce_type)
    if cls is None:
        return _external(attributes)
    return cls(**_data(attributes), **_envelope_fields(attributes))


def _envelope_fields(attributes: dict[str, Any]) -> dict[str, Any]:
    """The envelope fields of an event from its CloudEvent attributes."""
    envelope: dict[str, Any] = {
        "id": attributes["id"],
        "source": _source(attributes["source"]),
        "time": attributes.get("time") or datetime.now(UTC),
    }
    for field, attribute in _EXTENSIONS.items():
        if attribute in attributes:
            envelope[field] = attributes[attribute]
    return envelope


def _external(attributes: dict[str, Any]) -> ExternalEvent:
    return ExternalEvent(
        **_envelope_fields(attributes),
        ce_type=attributes["type"],
        ce_source=attributes["source"],
        subject=str(attributes.get("subject", "")),
        datacontenttype=str(attributes.get("datacontenttype", "")),
        data=attributes.get("data"),
        data_base64=_base64(attributes.get("data_base64")),
        extensions={
            k: v
            for k, v in attributes.items()
            if k not in _CORE and k not in {"data", "data_base64", *_EXTENSIONS.values()}
        },
    )


def _data(attributes: dict[str, Any]) -> dict[str, Any]:
    """The payload fields of one of our events (or a user's class) from its ``data``."""
    data = attributes.get("data", {})
    if not isinstance(data, dict):
        msg = f"The data of a {attributes['type']!r} CloudEvent must be a JSON object."
        raise EventValidationError(msg, field="data")
    return {k: v for k, v in data.items() if k not in _ENVELOPE}


def _source(source: str) -> str:
    """The event ``source`` of a CloudEvents ``source``: ours unquoted, others as sent."""
    if source == SOURCE_ROOT:
        return ""
    if source.startswith(SOURCE_ROOT + "/"):
        return unquote(source[len(SOURCE_ROOT) + 1 :])
    return source


def _base64(value: object) -> str | None:
    if value is None:
        return None
    try:
        base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        msg = "The CloudEvent's data_base64 is not base64."
        raise EventValidationError(msg, field="data_base64") from None
    return str(value)
