"""Events as CloudEvents 1.0 on the wire: what we write is valid, what others write is read."""

from __future__ import annotations

import json
import re
from typing import Literal
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.trace import SpanContext, TraceFlags

from bus import Event, EventValidationError, ExternalEvent, TaskCompleted, TaskStarted
from bus.lowlevel import Envelope, read_cloudevent, to_cloudevent, write_cloudevent
from tests.bus.test_event import envelopes, events

EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")  # CloudEvents 1.0, "Attribute Naming"
REVERSE_DNS = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+\.")
CORE = {"specversion", "id", "source", "type", "time", "datacontenttype", "data"}


class OrderCreated(Event):
    """A user's event type named as another producer names its CloudEvents."""

    type: Literal["com.example.order.created"] = "com.example.order.created"
    order: str
    amount: int


@given(event=events, fields=envelopes, sampled=st.booleans())
def test_every_event_round_trips_as_a_valid_cloudevent(
    event: Event, fields: dict[str, object], sampled: bool
) -> None:
    event = event.model_copy(update=fields)
    context = SpanContext(0x1234, 0x5678, False, TraceFlags(int(sampled)))
    payload, headers = write_cloudevent(Envelope(event, context))
    assert headers["content-type"] == "application/cloudevents+json"
    assert headers["traceparent"] == f"00-{0x1234:032x}-{0x5678:016x}-{int(sampled):02x}"
    cloudevent = json.loads(payload)
    assert cloudevent["specversion"] == "1.0"
    assert cloudevent["id"] == event.id
    assert REVERSE_DNS.match(cloudevent["type"])
    assert cloudevent["source"]
    assert urlsplit(cloudevent["source"]).path.startswith("/actorchestra")
    assert cloudevent["datacontenttype"] == "application/json"
    assert isinstance(cloudevent["data"], dict)
    assert all(EXTENSION_NAME.match(name) for name in set(cloudevent) - CORE)
    envelope = read_cloudevent(payload, headers)
    assert envelope.event == event
    assert envelope.span_context is not None
    assert (envelope.span_context.trace_id, envelope.span_context.span_id) == (0x1234, 0x5678)


# The example of the CloudEvents JSON event format specification (section 3.1).
SPEC_EXAMPLE = {
    "specversion": "1.0",
    "type": "com.example.someevent",
    "source": "/mycontext",
    "id": "A234-1234-1234",
    "time": "2018-04-05T17:31:00Z",
    "comexampleextension1": "value",
    "comexampleothervalue": 5,
    "datacontenttype": "application/json",
    "data": {"appinfoA": "abc", "appinfoB": 123, "appinfoC": True},
}


def test_another_producers_structured_cloudevent_is_read_whole_and_written_back_as_it_was() -> None:
    envelope = read_cloudevent(json.dumps(SPEC_EXAMPLE).encode())
    event = envelope.event
    assert isinstance(event, ExternalEvent)
    assert (event.ce_type, event.ce_source, event.id) == (
        "com.example.someevent",
        "/mycontext",
        "A234-1234-1234",
    )
    assert event.data == {"appinfoA": "abc", "appinfoB": 123, "appinfoC": True}
    assert event.extensions == {"comexampleextension1": "value", "comexampleothervalue": 5}
    assert envelope.span_context is None
    payload, _ = write_cloudevent(envelope)
    written = json.loads(payload)
    assert written == {**SPEC_EXAMPLE, "attempt": 1}  # plus our one extension with a default


def test_a_binary_mode_cloudevent_with_trace_headers_is_read() -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-type": "com.example.order.created",
        "ce-source": "urn:shop:orders",
        "ce-id": "o-1",
        "ce-time": "2026-01-02T03:04:05Z",
        "Content-Type": "application/json; charset=utf-8",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "tracestate": "vendor=x",
    }
    envelope = read_cloudevent(b'{"order": "o-1", "amount": 3}', headers)
    assert isinstance(envelope.event, OrderCreated)  # a user's class of that type
    assert (envelope.event.order, envelope.event.amount) == ("o-1", 3)
    assert envelope.event.source == "urn:shop:orders"
    assert envelope.span_context is not None
    assert envelope.span_context.trace_id == 0x4BF92F3577B34DA6A3CE929D0E0E4736
    assert envelope.span_context.trace_state.get("vendor") == "x"


def test_binary_mode_data_that_is_not_json_is_kept_as_text_or_base64() -> None:
    base = {"ce-specversion": "1.0", "ce-type": "t.x", "ce-source": "/s", "ce-id": "1"}
    text = read_cloudevent(b"hello", {**base, "content-type": "text/plain"}).event
    raw = read_cloudevent(b"\xff\x00", {**base, "content-type": "application/octet-stream"})
    assert isinstance(text, ExternalEvent)
    assert text.data == "hello"
    assert isinstance(raw.event, ExternalEvent)
    assert raw.event.data_base64 == "/wA="


@pytest.mark.parametrize(
    ("cloudevent", "field"),
    [
        ({k: v for k, v in SPEC_EXAMPLE.items() if k != "specversion"}, "specversion"),
        ({**SPEC_EXAMPLE, "specversion": "0.3"}, "specversion"),
        ({**SPEC_EXAMPLE, "source": ""}, "source"),
        ({**SPEC_EXAMPLE, "id": 7}, "id"),
        ({**SPEC_EXAMPLE, "type": "io.actorchestra.task.started", "data": [1]}, "data"),
        ({**SPEC_EXAMPLE, "type": "io.actorchestra.task.started", "data": {}}, "agent"),
        ({**SPEC_EXAMPLE, "data_base64": "not base64!"}, "data_base64"),
    ],
)
def test_what_is_not_a_valid_cloudevent_of_its_type_is_refused_naming_the_attribute(
    cloudevent: dict[str, object], field: str
) -> None:
    with pytest.raises(EventValidationError) as caught:
        read_cloudevent(json.dumps(cloudevent).encode())
    assert caught.value.field == field


def test_a_payload_that_is_not_json_is_refused() -> None:
    with pytest.raises(EventValidationError, match="not valid JSON"):
        read_cloudevent(b"{nope")


def test_an_event_type_of_ours_maps_to_a_prefixed_reverse_dns_type_and_a_source_uri() -> None:
    event = TaskCompleted(agent="legal", source="agents/legal v2", result=1, workflow_id="w")
    cloudevent = to_cloudevent(event)
    assert cloudevent["type"] == "io.actorchestra.task.completed"
    assert cloudevent["source"] == "/actorchestra/agents%2Flegal%20v2"
    assert cloudevent["workflowid"] == "w"
    assert "taskid" not in cloudevent  # empty: left out
    assert read_cloudevent(json.dumps(cloudevent).encode()).event == event


def test_an_event_without_a_source_gets_the_root_source() -> None:
    cloudevent = to_cloudevent(TaskStarted(agent="a"))
    assert cloudevent["source"] == "/actorchestra"
    assert read_cloudevent(json.dumps(cloudevent).encode()).event.source == ""
