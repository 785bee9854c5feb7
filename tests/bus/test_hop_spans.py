"""The bus's fast span paths record what the SDK's own spans would, and skip what it would drop."""

from __future__ import annotations

import itertools
import json
import queue
import random
import threading
from typing import Any

import pytest
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanContext

from actors import Actor
from bus import ChildStarted, Event, EventBus, TaskStarted
from bus._hop_spans import HopSpans
from bus.lowlevel import Envelope


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


class Probe(Actor):
    """Records, for each event, the baggage, current span and a child span's recording state."""

    def __init__(self, *, name: str, bus: EventBus, seen: queue.Queue[tuple[object, ...]]) -> None:
        super().__init__(name=name, bus=bus)
        self.seen = seen
        bus.subscribe(TaskStarted, name, recipient=name)
        bus.subscribe(ChildStarted, name)

    def on_event(self, event: Event) -> None:
        current = trace.get_current_span()
        assert self.bus is not None
        with self.bus.telemetry.tracer("probe").start_as_current_span("work") as child:
            recording = child.is_recording()
        self.seen.put((baggage.get_baggage("tenant"), current.get_span_context(), recording))


def provider_with(sampler: Sampler) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.mark.parametrize("sampled", [True, False], ids=["sampled", "dropped"])
def test_the_publishers_context_travels_with_the_event(sampled: bool) -> None:
    provider, exporter = provider_with(ParentBased(ALWAYS_ON if sampled else ALWAYS_OFF))
    bus = EventBus(tracer_provider=provider)
    seen: queue.Queue[tuple[object, ...]] = queue.Queue()
    Probe.start(name="p", bus=bus, seen=seen)
    token = otel_context.attach(baggage.set_baggage("tenant", "acme"))
    try:
        with provider.get_tracer("test").start_as_current_span("request") as request:
            bus.publish(TaskStarted(agent="p", task_id="t1"))
    finally:
        otel_context.detach(token)
    tenant, current, recording = seen.get(timeout=5)
    assert recording is sampled  # a span the handler starts follows the trace's decision
    assert tenant == "acme"  # baggage crosses the hop in-process, as over W3C headers
    assert isinstance(current, SpanContext)
    assert current.trace_id == request.get_span_context().trace_id
    if sampled:  # the handler runs in the process span, the child of the publish span
        done = exporter.get_finished_spans()
        names = {s.context.span_id: s.name for s in done if s.context}
        assert names[current.span_id] == "process task.started"
    else:  # no span of the bus's own: the request's (unsampled) span is current
        assert current == request.get_span_context()
        assert not current.trace_flags.sampled
        assert exporter.get_finished_spans() == ()
    provider.shutdown()


def test_a_span_started_in_a_dropped_hop_is_dropped_too() -> None:
    provider, exporter = provider_with(ParentBased(ALWAYS_OFF))
    trace_api = provider.get_tracer("probe")
    bus = EventBus(tracer_provider=provider)
    recorded: list[bool] = []

    def handler(event: Event) -> None:
        with trace_api.start_as_current_span("work") as span:
            recorded.append(span.is_recording())
            bus.publish(TaskStarted(agent="q", task_id="t2"))  # a second dropped hop

    bus.subscribe(TaskStarted, handler, recipient="p")
    bus.subscribe(
        TaskStarted,
        lambda e: recorded.append(trace.get_current_span().is_recording()),
        recipient="q",
    )
    with trace_api.start_as_current_span("request"):
        bus.publish(TaskStarted(agent="p", task_id="t1"))
    assert recorded == [False, False]
    assert exporter.get_finished_spans() == ()
    provider.shutdown()


def test_an_event_outside_any_trace_that_starts_none_gets_no_process_span() -> None:
    provider, exporter = provider_with(ParentBased(ALWAYS_ON))
    bus = EventBus(tracer_provider=provider)
    seen: queue.Queue[tuple[object, ...]] = queue.Queue()
    Probe.start(name="p", bus=bus, seen=seen)
    bus.publish(ChildStarted(supervisor="root", child="p"))  # a routine report, no trace
    _, current, _ = seen.get(timeout=5)
    assert isinstance(current, SpanContext) and not current.is_valid
    assert [s.name for s in exporter.get_finished_spans()] == ["work"]  # the probe's own root
    provider.shutdown()


class CountingIds(IdGenerator):
    def __init__(self) -> None:
        self.span_ids = itertools.count(1000)

    def generate_span_id(self) -> int:
        return next(self.span_ids)

    def generate_trace_id(self) -> int:
        return random.getrandbits(128)


class StartRecorder(SpanProcessor):
    def __init__(self) -> None:
        self.started: list[str] = []

    def on_start(self, span: Any, parent_context: otel_context.Context | None = None) -> None:
        self.started.append(span.name)


def test_hop_spans_take_ids_from_the_provider_and_reach_on_start_where_it_does_something() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=CountingIds())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    bus = EventBus(tracer_provider=provider)
    bus.subscribe(TaskStarted, lambda e: None, recipient="p")
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("before"):
        bus.publish(TaskStarted(agent="p"))
    recorder = StartRecorder()
    provider.add_span_processor(recorder)  # added later: the bus notices
    with tracer.start_as_current_span("after"):
        bus.publish(TaskStarted(agent="p"))
    hops = [s for s in exporter.get_finished_spans() if s.name.endswith("task.started")]
    assert len(hops) == 4
    assert all(s.context is not None and 1000 <= s.context.span_id < 1100 for s in hops)
    assert recorder.started == ["after", "publish task.started", "process task.started"]
    provider.shutdown()


def test_a_hop_span_reads_like_the_sdks_own() -> None:
    provider, exporter = provider_with(ParentBased(ALWAYS_ON))
    bus = EventBus(tracer_provider=provider)
    other = provider.get_tracer("test").start_span("other")

    def handler(event: Event) -> None:
        span = trace.get_current_span()
        span.add_link(other.get_span_context(), {"why": "test"})
        span.add_event("step", {"n": 1})
        span.set_attributes({"k": "v"})
        span.update_name("process renamed")
        raise RuntimeError("boom")

    with provider.get_tracer("test").start_as_current_span("request"):
        envelope, publish = bus._tracer.start_publish(TaskStarted(agent="p"), "p", True)  # type: ignore[union-attr]
        assert publish is not None
        with pytest.raises(RuntimeError, match="boom"):
            bus.handle(envelope, "p", handler)
        publish.end()
        publish.end()  # a second end is ignored
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"publish task.started", "process renamed", "request"}
    process, publish_span = spans["process renamed"], spans["publish task.started"]
    assert publish_span.context is not None and process.parent == publish_span.context
    assert [link.context for link in process.links] == [
        publish_span.context,
        other.get_span_context(),
    ]
    assert process.links[1].attributes == {"why": "test"}
    assert [e.name for e in process.events] == ["step", "exception"]
    assert process.status.status_code is trace.StatusCode.ERROR
    assert process.attributes is not None and process.attributes["k"] == "v"
    assert process.dropped_attributes == process.dropped_events == process.dropped_links == 0
    assert json.loads(process.to_json())["links"][0]["context"]["span_id"] == (
        f"0x{publish_span.context.span_id:016x}"
    )
    assert process.resource is provider.resource and process.end_time is not None
    other.end()
    provider.shutdown()


def test_a_batch_span_processor_exports_every_hop_span() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=7))
    bus = EventBus(tracer_provider=provider)
    bus.subscribe(TaskStarted, lambda e: None, recipient="p")
    with provider.get_tracer("test").start_as_current_span("request"):
        for i in range(50):
            bus.publish(TaskStarted(agent="p", task_id=str(i)))
    assert provider.force_flush(5_000)
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert names == ["process task.started"] * 50 + ["publish task.started"] * 50 + ["request"]
    provider.shutdown()
