"""The due-diligence example exports one trace and its metrics over real OTLP, gRPC and HTTP.

Receivers run on 127.0.0.1 (``tests/otlp_receiver.py``); the example runs as a
subprocess configured only by the standard ``OTEL_*`` variables, as a user would run it
against Jaeger.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.helpers import clean_env, run_example
from tests.otlp_receiver import Received, ReceivedSpan, grpc_receiver, http_receiver

SPAN_KIND_INTERNAL, SPAN_KIND_PRODUCER, SPAN_KIND_CONSUMER = 1, 4, 5
SPAN_KIND_CLIENT = 3
STATUS_ERROR = 2

EXPECTED_METRICS = {
    "actorchestra.tasks.started",
    "actorchestra.tasks.completed",
    "actorchestra.task.duration",
    "gen_ai.client.token.usage",
    "gen_ai.client.operation.duration",
    "gen_ai.invoke_agent.duration",
    "gen_ai.execute_tool.duration",
    "actorchestra.mailbox.depth",
}


@pytest.fixture(params=["grpc", "http/protobuf"])
def receiver(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, Received]]:
    protocol: str = request.param
    serve = grpc_receiver if protocol == "grpc" else http_receiver
    with serve() as (endpoint, received):
        yield protocol, endpoint, received


def export_example(protocol: str, endpoint: str, **extra: str) -> None:
    """Run the due-diligence example exporting to ``endpoint`` with ``protocol``."""
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=test",
        **extra,
    )
    proc = run_example(env=env)
    assert proc.returncode == 0, proc.stderr


def ancestors(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[str]:
    names = []
    while span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        names.append(span.name)
    return names


def test_one_trace_with_conventional_spans_and_metrics(
    receiver: tuple[str, str, Received],
) -> None:
    protocol, endpoint, received = receiver
    export_example(protocol, endpoint)
    spans = list(received.spans)
    assert spans, "no span reached the receiver"
    assert {s.trace_id for s in spans} == {spans[0].trace_id}, "more than one trace"
    by_id = {s.span_id: s for s in spans}
    [root] = [s for s in spans if s.parent_span_id not in by_id]
    assert root.name == "invoke_workflow due_diligence"
    assert root.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert root.resource["service.name"] == "due-diligence"
    assert root.resource["deployment.environment.name"] == "test"

    def named(prefix: str) -> list[ReceivedSpan]:
        return [s for s in spans if s.name.startswith(prefix)]

    [plan] = named("plan planner")
    assert plan.attributes["gen_ai.agent.name"] == "planner"
    assert {s.name for s in named("invoke_agent ")} == {
        f"invoke_agent {a}" for a in ("financial", "legal", "hr", "market", "risk", "report")
    }
    for agent in named("invoke_agent "):  # GenAI conventions: required and conditional
        assert agent.kind == SPAN_KIND_INTERNAL
        assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
        assert agent.attributes["gen_ai.provider.name"] == "openai_compatible"  # 127.0.0.1
        assert agent.attributes["gen_ai.agent.name"] == agent.name.removeprefix("invoke_agent ")
        assert agent.attributes["gen_ai.agent.description"]
        assert agent.attributes["gen_ai.output.type"] in ("text", "json")
        assert agent.attributes["gen_ai.request.model"] == "offline-scripted"
    tools = named("execute_tool ")
    assert tools
    for tool in tools:
        assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
        assert tool.attributes["gen_ai.tool.name"] == tool.name.removeprefix("execute_tool ")
        assert tool.attributes["gen_ai.tool.call.id"]
        assert tool.attributes["gen_ai.tool.description"]
    chats = named("chat ")
    assert len(chats) >= 7  # the planner's and at least one per agent
    for chat in chats:
        assert chat.kind == SPAN_KIND_CLIENT
        assert chat.attributes["gen_ai.operation.name"] == "chat"
        assert chat.attributes["gen_ai.provider.name"] == "openai_compatible"
        assert chat.attributes["server.address"] == "127.0.0.1"
        assert isinstance(chat.attributes["server.port"], int)
        assert chat.attributes["gen_ai.request.model"] == "offline-scripted"
        assert chat.attributes["gen_ai.usage.input_tokens"] > 0
        assert chat.attributes["gen_ai.usage.output_tokens"] > 0
        assert chat.attributes["gen_ai.response.finish_reasons"]
        assert "invoke_workflow due_diligence" in ancestors(chat, by_id), chat.name
        assert "gen_ai.input.messages" not in chat.attributes  # no content by default
        assert "gen_ai.output.messages" not in chat.attributes
    assert any(c.attributes.get("gen_ai.output.type") == "json" for c in chats)  # the plan
    for tool in named("execute_tool "):
        assert "gen_ai.tool.call.arguments" not in tool.attributes
    publishes = named("publish task.")
    processes = named("process task.")
    assert publishes and processes
    assert all(s.kind == SPAN_KIND_PRODUCER for s in publishes)
    for span in processes:
        assert span.kind == SPAN_KIND_CONSUMER
        parent = by_id[span.parent_span_id]
        assert parent.name == "publish " + span.name.removeprefix("process ")
        assert span.links == (parent.span_id,)
        for key in ("messaging.system", "messaging.destination.name", "messaging.message.id"):
            assert key in span.attributes
        event_type = span.name.removeprefix("process ")
        assert span.attributes["messaging.destination.template"] == event_type
        if span.attributes.get("actorchestra.workflow.id"):
            workflow = span.attributes["actorchestra.workflow.id"]
            assert span.attributes["messaging.message.conversation_id"] == workflow
        assert span.attributes["messaging.message.id"] == parent.attributes["messaging.message.id"]
    assert received.metric_names >= EXPECTED_METRICS


@pytest.mark.parametrize("value", ["true", "SPAN_ONLY"])
def test_message_content_is_recorded_only_when_opted_in(value: str) -> None:
    with grpc_receiver() as (endpoint, received):
        export_example("grpc", endpoint, OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=value)
    chats = [s for s in received.spans if s.name.startswith("chat ")]
    assert chats
    for chat in chats:
        sent = json.loads(chat.attributes["gen_ai.input.messages"])  # role + parts
        texts = [p["content"] for m in sent for p in m["parts"] if p["type"] == "text"]
        assert any("Carry out due diligence" in x or "Task t" in x for x in texts)
        [answer] = json.loads(chat.attributes["gen_ai.output.messages"])
        assert answer["role"] == "assistant" and answer["finish_reason"] in ("stop", "tool_call")
        assert {p["type"] for p in answer["parts"]} <= {"text", "tool_call"}
    tools = [s for s in received.spans if s.name.startswith("execute_tool ")]
    assert tools and all("gen_ai.tool.call.result" in t.attributes for t in tools)
