"""The bus's fast span paths record what the SDK's own spans would, and skip what it would drop."""

from __future__ import annotations

import contextvars
import itertools
import json
import queue
import random
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pykka
import pytest
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import (
    ReadableSpan,
    SpanLimits,
    SpanProcessor,
    SynchronousMultiSpanProcessor,
    TracerProvider,
)
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
from actors.telemetry import sdk_tracer_provider
from bus import ChildStarted, Event, EventBus, TaskStarted, Telemetry
from bus._hop_spans import HopSpans
from bus.lowlevel import Envelope
from tests.helpers import wait_until


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


def traced(
    root: Sampler, *, fast: bool = True, limits: SpanLimits | None = None
) -> tuple[TracerProvider, EventBus, InMemorySpanExporter]:
    """A provider sampling ``ParentBased(root)`` into an in-memory exporter, and a bus on it.

    ``fast``: the bus feeds hop spans to the provider's processor directly; otherwise
    every span goes through the SDK's tracer.
    """
    exporter = InMemorySpanExporter()
    if fast:
        provider, telemetry = sdk_tracer_provider(root_sampler=root, span_limits=limits)
    else:
        provider = TracerProvider(sampler=ParentBased(root), span_limits=limits)
        telemetry = Telemetry(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, EventBus(telemetry=telemetry), exporter


def run_pipeline(root: Sampler, n: int, *, fast: bool = True) -> list[ReadableSpan]:
    provider, bus, exporter = traced(root, fast=fast)
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


def test_hop_spans_are_used_only_with_an_sdk_provider_and_its_processor() -> None:
    processor = SynchronousMultiSpanProcessor()  # type: ignore[no-untyped-call]
    assert HopSpans.for_telemetry(TracerProvider(), processor) is not None
    assert HopSpans.for_telemetry(trace.NoOpTracerProvider(), processor) is None
    assert HopSpans.for_telemetry(TracerProvider(), object()) is None
    _, telemetry = sdk_tracer_provider(root_sampler=ALWAYS_ON)
    assert telemetry.span_processor is not None


def test_the_fast_path_is_declared_only_for_samplers_that_follow_the_parent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for value, declared in [("", True), ("parentbased_traceidratio", True), ("always_on", False)]:
        monkeypatch.setenv("OTEL_TRACES_SAMPLER", value)
        _, telemetry = sdk_tracer_provider()
        assert (telemetry.span_processor is not None) is declared, value


def test_hop_spans_record_the_same_spans_as_the_sdk() -> None:
    fast = run_pipeline(ALWAYS_ON, 3)  # hop spans
    slow = run_pipeline(ALWAYS_ON, 3, fast=False)  # the SDK's own spans
    assert len(fast) == len(slow) == 3 * 5  # request, 2 x (publish, process)
    assert shape(fast) == shape(slow)
    for s in fast:
        if s.name.startswith("process"):
            assert s.attributes is not None and s.attributes["test.stage"] in ("a", "b")


def test_sampling_keeps_or_drops_whole_traces() -> None:
    n = 200
    spans = run_pipeline(TraceIdRatioBased(0.5), n)
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
    provider, bus, exporter = traced(ALWAYS_ON)
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
    assert process.attributes is not None and process.attributes["error.type"] == "ValueError"
    provider.shutdown()


@pytest.mark.parametrize("fast", [True, False], ids=["hop spans", "sdk spans"])
def test_hop_attributes_follow_the_messaging_conventions(fast: bool) -> None:
    provider, bus, exporter = traced(ALWAYS_ON, fast=fast)
    bus.subscribe(TaskStarted, lambda e: None, recipient="legal")
    Relay.start(name="legal", bus=bus, nxt=None, done=threading.Event(), n=1)
    with provider.get_tracer("test").start_as_current_span("request"):
        bus.publish(TaskStarted(agent="legal", task_id="t2", workflow_id="wf-7"))
    assert wait_until(lambda: len(exporter.get_finished_spans()) == 3)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    for name, kind in (("publish task.started", "send"), ("process task.started", "process")):
        attributes = dict(spans[name].attributes or {})
        assert name == f"{attributes['messaging.operation.name']} task.started"
        assert attributes["messaging.operation.type"] == kind
        assert attributes["messaging.destination.template"] == "task.started"
        assert attributes["messaging.destination.name"] == "legal"
        assert attributes["messaging.message.conversation_id"] == "wf-7"
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


@pytest.mark.parametrize("sampled", [True, False], ids=["sampled", "dropped"])
def test_the_publishers_context_travels_with_the_event(sampled: bool) -> None:
    provider, bus, exporter = traced(ALWAYS_ON if sampled else ALWAYS_OFF)
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
    provider, bus, exporter = traced(ALWAYS_OFF)
    trace_api = provider.get_tracer("probe")
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
    provider, bus, exporter = traced(ALWAYS_ON)
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


def test_hop_spans_take_ids_from_the_provider_and_reach_every_processor_added() -> None:
    provider, telemetry = sdk_tracer_provider(id_generator=CountingIds())
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    bus = EventBus(telemetry=telemetry)
    bus.subscribe(TaskStarted, lambda e: None, recipient="p")
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("before"):
        bus.publish(TaskStarted(agent="p"))
    later = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(later))  # added later: reached too
    with tracer.start_as_current_span("after"):
        bus.publish(TaskStarted(agent="p"))
    hops = [s for s in exporter.get_finished_spans() if s.name.endswith("task.started")]
    assert len(hops) == 4
    assert all(s.context is not None and 1000 <= s.context.span_id < 1100 for s in hops)
    assert sorted(s.name for s in later.get_finished_spans()) == [
        "after",
        "process task.started",
        "publish task.started",
    ]
    provider.shutdown()


def test_without_the_fast_path_processors_see_on_start_for_every_span() -> None:
    provider = TracerProvider()
    recorder = StartRecorder()
    provider.add_span_processor(recorder)
    bus = EventBus(tracer_provider=provider)
    bus.subscribe(TaskStarted, lambda e: None, recipient="p")
    with provider.get_tracer("test").start_as_current_span("request"):
        bus.publish(TaskStarted(agent="p"))
    assert recorder.started == ["request", "publish task.started", "process task.started"]
    provider.shutdown()


def test_a_hop_span_reads_like_the_sdks_own() -> None:
    provider, bus, exporter = traced(ALWAYS_ON)
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
    provider, telemetry = sdk_tracer_provider(root_sampler=ALWAYS_ON)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=7))
    bus = EventBus(telemetry=telemetry)
    bus.subscribe(TaskStarted, lambda e: None, recipient="p")
    with provider.get_tracer("test").start_as_current_span("request"):
        for i in range(50):
            bus.publish(TaskStarted(agent="p", task_id=str(i)))
    assert provider.force_flush(5_000)
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert names == ["process task.started"] * 50 + ["publish task.started"] * 50 + ["request"]
    provider.shutdown()


class Busy(Actor):
    """Does to its process span what handlers do: attributes, events, links, errors."""

    def __init__(self, *, name: str, bus: EventBus, other: SpanContext, done: threading.Event):
        super().__init__(name=name, bus=bus)
        self.other, self.done = other, done
        bus.subscribe(TaskStarted, name, recipient=name)

    def on_event(self, event: Event) -> None:
        span = trace.get_current_span()
        span.set_attribute("long", "x" * 50)  # longer than the limit: truncated
        span.set_attributes({f"many.{i}": i for i in range(8)})  # more than the limit
        span.set_attribute("bad", object())  # type: ignore[arg-type]  # not a value: dropped
        for i in range(3):  # more events than the limit, more attributes each
            span.add_event(f"step {i}", {"a": "y" * 20, "b": 2, "c": 3})
        span.add_link(self.other, {"why": "test", "extra": 1})
        span.record_exception(LookupError("kept"))
        span.set_status(trace.StatusCode.ERROR, "first")
        span.set_status(trace.StatusCode.UNSET)  # ignored, as the SDK ignores it
        self.done.set()
        raise KeyError("escapes")


def exported(spans: list[ReadableSpan]) -> list[tuple[object, ...]]:
    """Every exported field of each span but ids and timestamps, in a stable order."""
    by_id = {s.context.span_id: s.name for s in spans if s.context is not None}
    rows = []
    for s in spans:
        attributes = dict(s.attributes or {})
        attributes.pop("messaging.message.id", None)
        events = []
        for e in s.events:
            fields = dict(e.attributes or {})
            stack = fields.pop("exception.stacktrace", None)
            events.append((e.name, sorted(fields.items()), stack is not None))
        rows.append(
            (
                s.name,
                s.kind,
                by_id.get(s.parent.span_id) if s.parent is not None else None,
                [
                    (by_id.get(k.context.span_id, "other"), dict(k.attributes or {}))
                    for k in s.links
                ],
                sorted(attributes.items()),
                events,
                (s.status.status_code, s.status.description),
                dict(s.resource.attributes),
                (s.instrumentation_scope.name, s.instrumentation_scope.version)
                if s.instrumentation_scope
                else None,
                (s.dropped_attributes, s.dropped_events, s.dropped_links),
            )
        )
    return sorted(rows, key=repr)


def record_busy_workflow(*, fast: bool) -> list[ReadableSpan]:
    limits = SpanLimits(
        max_span_attributes=9,
        max_events=2,
        max_event_attributes=2,
        max_links=2,
        max_link_attributes=1,
        max_attribute_length=8,
        max_span_attribute_length=12,
    )
    provider, bus, exporter = traced(ALWAYS_ON, fast=fast, limits=limits)
    tracer = provider.get_tracer("test")
    other = tracer.start_span("other")
    done = threading.Event()
    Busy.start(name="busy", bus=bus, other=other.get_span_context(), done=done)
    with tracer.start_as_current_span("request"):
        bus.publish(TaskStarted(agent="busy", task_id="t1", workflow_id="wf"))
    assert done.wait(5)
    other.end()
    pykka.ActorRegistry.stop_all()
    provider.shutdown()
    return list(exporter.get_finished_spans())


def test_the_fast_path_exports_exactly_what_sdk_spans_export() -> None:
    fast, slow = record_busy_workflow(fast=True), record_busy_workflow(fast=False)
    assert [s.name for s in fast if s.name.startswith("process")] == ["process task.started"]
    process = next(s for s in fast if s.name.startswith("process"))
    assert process.dropped_attributes > 0 and process.dropped_events > 0  # limits applied
    assert process.status.status_code is trace.StatusCode.ERROR
    assert exported(fast) == exported(slow)


def test_the_bus_traces_with_opentelemetry_classes_of_another_layout() -> None:
    # Link, SpanContext and the span processors replaced by look-alikes (slots, other
    # field names, another tuple order) before the bus is imported: it uses the public
    # API only, so the import and a traced workflow work all the same.
    script = Path(__file__).with_name("lookalikes.py")
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [
        "invoke_workflow",
        "workflow",
        "process",
        "task.completed",
        "process",
        "task.started",
        "publish",
        "task.completed",
        "publish",
        "task.started",
        "request",
    ]


@pytest.mark.parametrize("fast", [True, False], ids=["hop spans", "sdk spans"])
def test_one_span_a_hop_is_the_process_span_child_of_the_publishers(fast: bool) -> None:
    exporter = InMemorySpanExporter()
    if fast:
        provider, telemetry = sdk_tracer_provider(root_sampler=ALWAYS_ON)
    else:
        provider = TracerProvider()
        telemetry = Telemetry(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    bus = EventBus(telemetry=telemetry, publish_spans=False)
    seen: queue.Queue[tuple[object, ...]] = queue.Queue()
    Probe.start(name="p", bus=bus, seen=seen)
    with provider.get_tracer("test").start_as_current_span("request") as request:
        bus.publish(TaskStarted(agent="p", task_id="t1"))
    _, current, _ = seen.get(timeout=5)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"request", "process task.started", "work"}
    process = spans["process task.started"]
    assert process.parent == request.get_span_context()
    assert process.links == ()
    assert current == process.context  # the handler runs in it
    provider.shutdown()


REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


@pytest.mark.parametrize("publish_spans", [True, False], ids=["two spans", "one span"])
@pytest.mark.parametrize("sampled", [True, False], ids=["sampled", "dropped"])
def test_a_chain_of_hops_keeps_the_trace_and_the_context_variables(
    sampled: bool, publish_spans: bool
) -> None:
    """Each handler publishes the next hop from the context the bus ran it in."""
    provider, telemetry = sdk_tracer_provider(root_sampler=ALWAYS_ON if sampled else ALWAYS_OFF)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    bus = EventBus(telemetry=telemetry, publish_spans=publish_spans)
    seen: list[tuple[str, SpanContext, str, str | None]] = []

    def stage(name: str, nxt: str | None) -> None:
        def handle(event: Event) -> None:
            current = trace.get_current_span().get_span_context()
            tenant = baggage.get_baggage("tenant")
            seen.append((name, current, REQUEST_ID.get(), str(tenant) if tenant else None))
            REQUEST_ID.set(f"{REQUEST_ID.get()}>{name}")  # travels on to the next hop
            if nxt is not None:
                bus.publish(TaskStarted(agent=nxt, task_id=event.task_id))

        bus.subscribe(TaskStarted, handle, recipient=name)

    for name, nxt in (("a", "b"), ("b", "c"), ("c", None)):
        stage(name, nxt)
    token = otel_context.attach(baggage.set_baggage("tenant", "acme"))
    REQUEST_ID.set("r1")
    try:
        with provider.get_tracer("test").start_as_current_span("request") as request:
            bus.publish(TaskStarted(agent="a", task_id="t1"))
    finally:
        otel_context.detach(token)
    assert [(n, r, t) for n, _, r, t in seen] == [
        ("a", "r1", "acme"),
        ("b", "r1>a", "acme"),
        ("c", "r1>a>b", "acme"),
    ]
    trace_id = request.get_span_context().trace_id
    assert {current.trace_id for _, current, _, _ in seen} == {trace_id}
    spans = {s.context.span_id: s for s in exporter.get_finished_spans() if s.context}
    if not sampled:  # no span at all: each handler sees the request's unsampled span
        assert spans == {}
        assert [current for _, current, _, _ in seen] == [request.get_span_context()] * 3
        provider.shutdown()
        return
    parent = request.get_span_context()
    for _, current, _, _ in seen:  # each hop's process span is the child of the last
        process = spans[current.span_id]
        assert process.name == "process task.started"
        hop_parent = spans[process.parent.span_id] if publish_spans else None  # type: ignore[union-attr]
        if hop_parent is not None:  # the publish span, the child of the last hop's
            assert hop_parent.name == "publish task.started"
            assert hop_parent.parent == parent
        else:
            assert process.parent == parent
        parent = current
    provider.shutdown()
