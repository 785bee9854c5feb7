"""The bus's fast span paths record what the SDK's own spans would, and skip what it would drop."""

from __future__ import annotations

import threading

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased

from actors import Actor
from bus import Envelope, Event, EventBus, TaskStarted
from bus._hop_spans import HopSpans


class Relay(Actor):
    """Forwards each task to ``nxt``; the last stage counts and may crash on "boom"."""

    def __init__(
        self, *, name: str, bus: EventBus, nxt: str | None, done: threading.Event, n: int
    ) -> None:
        super().__init__(name=name, bus=bus)
        self.nxt, self.done, self.n, self.seen = nxt, done, n, 0
        bus.subscribe(TaskStarted, name, recipient=name)

    def on_event(self, event: Event) -> None:
        trace.get_current_span().set_attribute("test.stage", self.name)
        if self.nxt is not None:
            assert self.bus is not None
            self.bus.publish(TaskStarted(agent=self.nxt, task_id=event.task_id))
            return
        self.seen += 1
        if self.seen == self.n:
            self.done.set()


def run_pipeline(sampler: Sampler, n: int) -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    bus = EventBus(tracer_provider=provider)
    done = threading.Event()
    Relay.start(name="a", bus=bus, nxt="b", done=done, n=n)
    Relay.start(name="b", bus=bus, nxt=None, done=done, n=n)
    tracer = provider.get_tracer("test")
    for i in range(n):
        with tracer.start_as_current_span("request"):
            bus.publish(TaskStarted(agent="a", task_id=str(i)))
    assert done.wait(10)
    provider.shutdown()
    return list(exporter.get_finished_spans())


def shape(spans: list[ReadableSpan]) -> list[tuple[object, ...]]:
    """Spans without ids and times: name, kind, parent's name, links to the parent, attrs."""
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    rows = []
    for s in spans:
        parent = by_id.get(s.parent.span_id) if s.parent is not None else None
        attributes = dict(s.attributes or {})
        attributes.pop("messaging.message.id", None)
        links_to_parent = tuple(
            link.context.span_id == (s.parent.span_id if s.parent else None) for link in s.links
        )
        rows.append((s.name, s.kind, parent.name if parent else None, links_to_parent, attributes))
    return sorted(rows, key=repr)


def test_hop_spans_are_used_only_for_the_default_parent_based_sampler() -> None:
    assert HopSpans.for_provider(TracerProvider(sampler=ParentBased(ALWAYS_ON))) is not None
    assert HopSpans.for_provider(TracerProvider(sampler=ALWAYS_ON)) is None
    assert HopSpans.for_provider(trace.NoOpTracerProvider()) is None


def test_hop_spans_record_the_same_spans_as_the_sdk() -> None:
    fast = run_pipeline(ParentBased(ALWAYS_ON), 3)  # hop spans
    slow = run_pipeline(ALWAYS_ON, 3)  # the SDK's own spans
    assert len(fast) == len(slow) == 3 * 5  # request, 2 x (publish, process)
    assert shape(fast) == shape(slow)
    for s in fast:
        if s.name.startswith("process"):
            assert s.attributes is not None and s.attributes["test.stage"] in ("a", "b")


def test_sampling_keeps_or_drops_whole_traces() -> None:
    n = 200
    spans = run_pipeline(ParentBased(TraceIdRatioBased(0.5)), n)
    by_trace: dict[int, list[str]] = {}
    for s in spans:
        assert s.context is not None
        by_trace.setdefault(s.context.trace_id, []).append(s.name)
    assert 0 < len(by_trace) < n  # some traces sampled, some not
    for names in by_trace.values():
        assert sorted(names) == [
            "process task.started",
            "process task.started",
            "publish task.started",
            "publish task.started",
            "request",
        ]


def test_an_exception_in_a_process_span_is_recorded_with_status_error() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    bus = EventBus(tracer_provider=provider)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("request") as root:
        envelope = Envelope(TaskStarted(agent="x"), root.get_span_context())
        with pytest.raises(ValueError, match="bad"), bus.processing(envelope, "x"):
            raise ValueError("bad")
    [process] = [s for s in exporter.get_finished_spans() if s.name.startswith("process")]
    assert process.status.status_code is trace.StatusCode.ERROR
    assert process.status.description == "ValueError: bad"
    assert [e.name for e in process.events] == ["exception"]
    assert process.events[0].attributes is not None
    assert process.events[0].attributes["exception.type"] == "ValueError"
    provider.shutdown()
