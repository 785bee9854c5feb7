"""How the JetStream event log stores an event: its subject, its message, reading it back.

An event of workflow ``<w>`` and type ``<t>`` is a message on
``<namespace>.log.<token(w)>.<token(t)>`` (events outside any workflow: ``<w>`` is
``""``, token ``-``) in the stream ``<namespace>-log``, so a workflow's events are read
with the filter ``<namespace>.log.<token(w)>.>`` and the workflows' starts and ends with
``<namespace>.log.*.workflow%2Estarted`` and ``...finished`` (NATS docs,
"Subject-Based Messaging"; tokens as :func:`bus.lowlevel.token` escapes them).

The message is the event's CloudEvent (:func:`bus.lowlevel.write_cloudevent`: JSON event
format, ``traceparent``/``tracestate`` headers), with the headers
``Nats-Msg-Id: <event id>`` (JetStream drops the same event appended again within the
stream's duplicate window; NATS docs, "JetStream", "Message Deduplication"),
``Actorchestra-Schema-Version`` (:data:`bus.EVENT_SCHEMA_VERSION`) and
``Actorchestra-Append: <appender> <n>`` (its place in its appender's order).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from bus import EVENT_SCHEMA_VERSION, Event, EventValidationError
from bus.lowlevel import Envelope, cloudevent_fields, token, write_cloudevent
from memory._stored_events import SkipRecord

__all__ = [
    "APPEND_HEADER",
    "SCHEMA_HEADER",
    "LogSubjects",
    "in_append_order",
    "log_message",
    "stored_fields",
]

SCHEMA_HEADER = "Actorchestra-Schema-Version"
APPEND_HEADER = "Actorchestra-Append"

M = TypeVar("M")


class LogSubjects:
    """The stream and subjects of the event log of ``namespace`` (see the module)."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.stream = f"{namespace}-log"
        self.prefix = f"{namespace}.log."
        self.all = f"{namespace}.log.>"
        self.loose = self.workflow("")
        self.lifecycle = [
            f"{namespace}.log.*.{token('workflow.started')}",
            f"{namespace}.log.*.{token('workflow.finished')}",
        ]

    def of(self, event: Event) -> str:
        """The subject ``event`` is stored on."""
        return f"{self.prefix}{token(event.workflow_id)}.{token(event.type)}"

    def workflow(self, workflow_id: str) -> str:
        """The filter of every event of ``workflow_id``."""
        return f"{self.prefix}{token(workflow_id)}.>"

    def workflow_token(self, subject: str) -> str:
        """The workflow token of a log subject."""
        return subject[len(self.prefix) :].partition(".")[0]


def log_message(envelope: Envelope[Event]) -> tuple[bytes, dict[str, str]]:
    """The payload and headers storing ``envelope`` (the writer adds its place)."""
    payload, headers = write_cloudevent(envelope)
    headers["Nats-Msg-Id"] = envelope.event.id
    headers[SCHEMA_HEADER] = str(EVENT_SCHEMA_VERSION)
    return payload, headers


def stored_fields(
    payload: bytes, headers: Mapping[str, str] | None, skip: SkipRecord
) -> tuple[dict[str, Any], int] | None:
    """The stored event's fields and schema version; ``None`` (told to ``skip``) if damaged."""
    try:
        version = int((headers or {}).get(SCHEMA_HEADER, "0"))
        return cloudevent_fields(payload, headers), version
    except (EventValidationError, ValueError) as exc:
        skip("", -1, exc)
        return None


def _place(headers: Mapping[str, str] | None) -> tuple[str, int] | None:
    try:
        appender, n = (headers or {})[APPEND_HEADER].split()
        return appender, int(n)
    except (KeyError, ValueError):
        return None


def in_append_order(
    messages: Sequence[M], headers: Callable[[M], Mapping[str, str] | None]
) -> list[M]:
    """``messages`` (in stream order) with each appender's own in the order it appended.

    A publish retried after a failure can land after events its appender published
    later; this puts them back, each appender's events in the slots they hold, so the
    order per appender (per process) is the publish order.
    """
    places = [_place(headers(m)) for m in messages]
    slots: dict[str, list[int]] = {}
    for i, place in enumerate(places):
        if place is not None:
            slots.setdefault(place[0], []).append(i)
    result = list(messages)
    for positions in slots.values():
        ordered = sorted(positions, key=lambda i: places[i][1])  # type: ignore[index]
        for slot, i in zip(positions, ordered, strict=True):
            result[slot] = messages[i]
    return result
