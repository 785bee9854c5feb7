from __future__ import annotations

import json
import logging
import sys
import types
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel, JsonValue

from actors import (
    DEFAULT_MODEL_RETRIES,
    ConfigurationError,
    LLMAgent,
    Plan,
    Planner,
    RetryPolicy,
    Task,
    TaskContext,
    TaskError,
    TaskStatus,
    Team,
    Tool,
)
from actors._agents.chat import chat
from actors.testing import FakeLLMServer, Reply
from bus import EventBus
from memory import InMemoryStore


class Total(BaseModel):
    total: int


def add(a: int, b: int) -> int:
    """Add two integers.

    More text that the model does not see.
    """
    return a + b


def whoami(task: TaskContext, suffix: str = "") -> str:
    """Name the task."""
    return task.task_id + suffix


def run_one(bus: EventBus, server: FakeLLMServer, **agent: Any) -> Any:
    spec = LLMAgent.child_spec(
        "calc", bus, client=server.client(), model="m", system_prompt="You add.", **agent
    )
    with Team([spec], bus=bus) as team:
        result = team.run(
            Plan(tasks=(Task(id="t1", agent="calc", description="add 2 and 3", max_attempts=1),)),
            timeout=20,
        )
    [task] = result.tasks
    return task


def tool_messages(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


def test_tool_loop_validates_arguments_and_structured_output(bus: EventBus) -> None:
    script = [
        Reply.calls(("add", {"a": 2, "b": "three"})),
        Reply.calls(("add", {"a": 2, "b": 3}), ("subtract", {})),
        Reply.text("five"),
        Reply.json({"total": 5}),
    ]
    with FakeLLMServer(script) as server:
        task = run_one(bus, server, tools=[add], output_type=Total)
    assert task.status is TaskStatus.COMPLETED
    assert task.result == {"total": 5}
    requests = server.requests
    assert len(requests) == 4
    first = requests[0]
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert first["messages"][1]["content"] == "Task t1: add 2 and 3"
    assert first["tools"][0]["function"]["name"] == "add"
    assert first["tools"][0]["function"]["description"] == "Add two integers."
    assert first["tools"][0]["function"]["parameters"]["required"] == ["a", "b"]
    assert first["response_format"]["json_schema"]["name"] == "Total"
    assert tool_messages(requests[1]) == [
        "error: Arguments for tool 'add' are invalid: b: Input should be a valid integer, unable to parse string as an integer."
    ]
    assert tool_messages(requests[2])[1:] == [
        "5",
        "error: there is no tool named 'subtract'; available: ['add']",
    ]
    retry = requests[3]["messages"][-1]
    assert retry["role"] == "user" and retry["content"].startswith(
        "Your answer does not match the Total JSON schema:"
    )
    prompt_tokens = sum(max(1, len(json.dumps(r["messages"])) // 4) for r in requests)
    assert task.usage.input_tokens == prompt_tokens
    assert task.usage.output_tokens > 0


class Measured(BaseModel):
    figures: dict[str, JsonValue]


def test_an_answer_with_an_infinite_number_is_sent_back_like_a_schema_failure(
    bus: EventBus,
) -> None:
    # 1e999 is JSON that parses to infinity, which no result can carry: the attempt
    # failed for good ("cannot travel as JSON", not retryable), the model never told.
    script = [Reply.text('{"figures": {"x": 1e999}}'), Reply.json({"figures": {"x": 1}})]
    with FakeLLMServer(script) as server:
        task = run_one(bus, server, output_type=Measured)
    assert (task.status, task.result, task.attempts) == (
        TaskStatus.COMPLETED,
        {"figures": {"x": 1}},
        1,
    )
    assert server.requests[1]["messages"][-1]["content"] == (
        "Your answer does not match the Measured JSON schema: Measured: a non-finite "
        "number (JSON has no NaN or infinity). Reply again with only the corrected JSON."
    )


def test_task_context_is_injected_and_not_shown_to_the_model(bus: EventBus) -> None:
    tool = Tool.from_function(whoami)
    assert tool.context_param == "task"
    assert set(tool.arguments.model_fields) == {"suffix"}
    with FakeLLMServer([Reply.calls(("whoami", {"suffix": "!"})), Reply.text("done")]) as server:
        task = run_one(bus, server, tools=[whoami])
    assert task.result == "done"
    assert tool_messages(server.requests[1]) == ["t1!"]


def test_a_tool_that_raises_is_reported_to_the_model(bus: EventBus) -> None:
    def explode() -> None:
        """Explode."""
        raise OSError("disk on fire")

    with FakeLLMServer([Reply.calls(("explode", {})), Reply.text("sorry")]) as server:
        task = run_one(bus, server, tools=[explode])
    assert task.result == "sorry"
    assert tool_messages(server.requests[1]) == [
        "error: tool 'explode' raised OSError: disk on fire"
    ]


def test_a_tool_result_that_is_not_json_fails_the_task_as_an_agents_would(
    bus: EventBus,
) -> None:
    def labels() -> set[str]:
        """Labels, as a set (not a JSON value)."""
        return {"secret-label"}

    with FakeLLMServer([Reply.calls(("labels", {})), Reply.text("never")]) as server:
        task = run_one(bus, server, tools=[labels])
    assert task.status is TaskStatus.FAILED
    assert task.error == (
        "TaskError: Tool 'labels' returned a set that cannot travel as JSON: "
        "value: invalid-json-value"
    )
    assert "secret-label" not in task.error
    assert len(server.requests) == 1  # the model never saw a stringified set


def test_tool_loop_is_capped_and_warns_at_ten(
    bus: EventBus, caplog: pytest.LogCaptureFixture
) -> None:
    script = [Reply.calls(("add", {"a": 1, "b": 1}))] * 15
    with (
        caplog.at_level(logging.WARNING, logger="actors._agents.llm_agent"),
        FakeLLMServer(script) as server,
    ):
        task = run_one(bus, server, tools=[add])
    assert len(server.requests) == 15
    assert task.status is TaskStatus.FAILED
    assert task.error == (
        "LLMOutputError: Agent 'calc' gave no valid answer to task 't1' within 15 model calls; "
        "last, the model was still calling tools."
    )
    assert [r.getMessage() for r in caplog.records if r.name == "actors._agents.llm_agent"] == [
        "Agent 'calc' is at model call 10 of at most 15 for task t1"
    ]


def test_server_errors_fail_the_attempt_as_retryable_with_the_cause(bus: EventBus) -> None:
    def broken(_request: dict[str, Any]) -> Reply:
        raise RuntimeError("model melted")

    with FakeLLMServer(broken) as server:
        task = run_one(bus, server)
    assert task.status is TaskStatus.FAILED
    # By kind and HTTP status: an error body may echo the prompt, so it is not told.
    assert (
        task.error
        == "TaskError: Model call for agent 'calc' failed: InternalServerError (HTTP 500)"
    )
    assert "model melted" not in task.error


def test_tool_definitions_are_checked() -> None:
    from actors import ConfigurationError

    def untyped(x) -> int:  # type: ignore[no-untyped-def]
        return 1

    with pytest.raises(
        ConfigurationError, match=r"^Tool 'untyped' parameter 'x' needs a type annotation\.$"
    ):
        Tool.from_function(untyped)


def test_an_agent_with_memory_recalls_what_an_earlier_workflow_learned(bus: EventBus) -> None:
    store = InMemoryStore()
    store.put("analyst", "unrelated chatter", "nothing")
    with FakeLLMServer([Reply.text("Acme is at high risk"), Reply.text("still high")]) as server:
        spec = LLMAgent.child_spec(
            "analyst", bus, client=server.client(), model="m", memory=store, recall_limit=1
        )
        with Team([spec], bus=bus) as team:
            for wid in ("first", "second"):
                plan = Plan(tasks=(Task(id="t1", agent="analyst", description="Acme risk"),))
                assert team.submit(plan, workflow_id=wid).get(timeout=20).ok
        first, second = (r["messages"][-1]["content"] for r in server.requests)
    assert "earlier workflows" not in first  # only unrelated chatter was known
    assert "Facts you recorded in earlier workflows" in second
    facts = json.loads(second.split("(JSON):\n", 1)[1])
    assert facts == [
        {"about": "Acme risk", "fact": {"result": "Acme is at high risk", "workflow_id": "first"}}
    ]
    [kept, *_] = store.search("analyst", "Acme")
    assert kept.value == {"result": "still high", "workflow_id": "second"}


def test_requests_per_model_call_are_bounded_by_the_agent_not_the_clients_default(
    bus: EventBus,
) -> None:
    requests: list[str] = []

    def doomed(request: dict[str, Any]) -> Reply:
        requests.append(str(request["model"]))
        return Reply.error(500)

    with FakeLLMServer(doomed) as server:
        client = server.client(max_retries=2)  # the openai client's own default
        spec = LLMAgent.child_spec("calc", bus, client=client, model="m")
        with Team([spec], bus=bus, retry=RetryPolicy(backoff=None)) as team:
            result = team.run(Plan(tasks=(Task(id="t1", agent="calc"),)), timeout=60)
        [task] = result.tasks
        assert (task.status, task.attempts) == (TaskStatus.FAILED, 3)
        assert len(requests) == (1 + DEFAULT_MODEL_RETRIES) * 3 == 6
        requests.clear()
        planner = Planner(client, "m", {"calc": "adds"}, max_retries=0)
        with pytest.raises(TaskError, match=r"^Model call for agent 'planner' failed"):
            planner.plan("add")
        assert len(requests) == 1
    assert client.max_retries == 2  # the caller's client is left as it was
    with pytest.raises(ConfigurationError, match=r"^max_retries must be >= 0 or None, got -1\.$"):
        Planner(client, "m", {}, max_retries=-1)


class _Instrumentor:
    """Stands in for an OpenTelemetry OpenAI instrumentor (its public flag only)."""

    is_instrumented_by_opentelemetry = True


def test_no_chat_span_of_ours_when_the_upstream_openai_instrumentation_is_active(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with FakeLLMServer([Reply.text("one"), Reply.text("two")]) as server:
        client = server.client()
        messages = [{"role": "user", "content": "hi"}]
        chat(client, tracer, model="m", messages=messages, agent="a")
        upstream = types.ModuleType("opentelemetry.instrumentation.openai_v2")
        upstream.OpenAIInstrumentor = _Instrumentor  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, upstream.__name__, upstream)
        message, _ = chat(client, tracer, model="m", messages=messages, agent="a")
    assert message.content == "two"
    assert [s.name for s in exporter.get_finished_spans()] == ["chat m"]  # the first only
    provider.shutdown()
