from __future__ import annotations

from typing import ClassVar

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from actors import Agent, LLMAgent, Plan, Task, TaskContext, Team
from actors.testing import FakeLLMServer, Reply
from bus import EventBus, TaskCompleted
from bus.lowlevel import Envelope, from_wire, to_wire


def by_name(spans: list[ReadableSpan], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


class Crashy(Agent):
    crashed: ClassVar[bool] = False

    def handle(self, task: TaskContext) -> object:
        if not Crashy.crashed:
            Crashy.crashed = True
            raise RuntimeError("first attempt crashes")
        return "fine"


def test_all_spans_of_a_workflow_share_one_trace_and_process_spans_follow_publish_spans(
    traced_bus: EventBus, tracer_provider: TracerProvider, spans: InMemorySpanExporter
) -> None:
    Crashy.crashed = False
    bus = traced_bus

    def responder(request: dict[str, object]) -> Reply:
        messages = request["messages"]
        assert isinstance(messages, list)
        return Reply.text("answer") if messages[-1]["role"] == "tool" else Reply.calls(("ping", {}))

    def ping() -> str:
        """Ping."""
        return "pong"

    with FakeLLMServer(responder) as server:
        specs = [
            LLMAgent.child_spec("llm", bus, client=server.client(), model="m", tools=[ping]),
            Crashy.child_spec("crashy", bus),
        ]
        plan = Plan(
            tasks=(Task(id="a", agent="llm"), Task(id="b", agent="crashy", depends_on=("a",)))
        )
        with Team(specs, bus=bus) as team:
            result = team.run(plan, timeout=20, name="demo")
    assert result.ok
    finished = list(spans.get_finished_spans())
    [root] = by_name(finished, "invoke_workflow demo")
    trace_id = root.context.trace_id
    workflow_spans = [
        s
        for s in finished
        if s.attributes is not None
        and s.attributes.get("actorchestra.workflow.id") == result.workflow_id
    ]
    workflow_spans += (
        by_name(finished, "chat ")
        + by_name(finished, "execute_tool")
        + by_name(finished, "invoke_agent")
    )
    assert len(workflow_spans) > 10
    assert {s.context.trace_id for s in workflow_spans} == {trace_id}
    ids = {s.context.span_id: s for s in finished}
    processes = [s for s in workflow_spans if s.kind is SpanKind.CONSUMER]
    assert processes
    for span in processes:
        assert span.parent is not None
        parent = ids[span.parent.span_id]
        assert parent.kind is SpanKind.PRODUCER
        assert parent.name == span.name.replace("process ", "publish ", 1)
        assert [link.context.span_id for link in span.links] == [parent.context.span_id]
        assert span.attributes is not None and parent.attributes is not None
        assert span.attributes["messaging.message.id"] == parent.attributes["messaging.message.id"]
    for span in workflow_spans:
        if span is not root:
            assert span.parent is not None and span.parent.span_id in ids, span.name
    [chat_parent] = {ids[s.parent.span_id].name for s in by_name(finished, "chat m") if s.parent}
    assert chat_parent == "invoke_agent llm"
    crashed = [s for s in processes if s.status.status_code is StatusCode.ERROR]
    assert [s.name for s in crashed] == ["process task.started"]
    assert crashed[0].events[0].name == "exception"
    [crash] = by_name(finished, "crash crashy")
    assert crash.status.status_code is StatusCode.ERROR
    assert [e.name for e in crash.events] == ["exception", "restart"]
    assert crash.context is not None and crash.context.trace_id == root.context.trace_id
    assert [e.name for e in root.events] == ["retry"]


def test_trace_context_round_trips_through_traceparent(tracer_provider: TracerProvider) -> None:
    tracer = tracer_provider.get_tracer("t")
    with tracer.start_as_current_span("x") as span:
        envelope = Envelope(TaskCompleted(agent="a"), span.get_span_context())
    wire = to_wire(envelope)
    sc = span.get_span_context()
    assert wire.traceparent == f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{sc.trace_flags:02x}"
    back = from_wire(wire)
    assert back.span_context is not None
    assert back.span_context.trace_id == span.get_span_context().trace_id
    assert back.span_context.span_id == span.get_span_context().span_id
    assert from_wire(TaskCompleted(agent="a")).span_context is None
    assert to_wire(Envelope(TaskCompleted(agent="a"))).traceparent == ""


def test_untraced_bus_creates_no_spans(bus: EventBus, spans: InMemorySpanExporter) -> None:
    got: list[object] = []
    bus.subscribe(TaskCompleted, got.append)
    bus.publish(TaskCompleted(agent="a"))
    assert got and spans.get_finished_spans() == ()
    assert isinstance(bus.telemetry.tracer("x"), trace.NoOpTracer)
