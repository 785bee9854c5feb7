"""Servers that take less than OpenAI's API: structured output falls back, tool calls echo plainly."""

from __future__ import annotations

import json
from typing import Any

from openai.types.chat import ChatCompletionMessage
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from actors import Endpoints, LLMAgent, OutputMode, Plan, Planner, Task, TaskStatus, Team
from actors._agents.prompt import echo_tool_calls
from actors.testing import FakeLLMServer, Reply
from bus import EventBus, Telemetry


class Total(BaseModel):
    total: int


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def run(bus: EventBus, server: FakeLLMServer, *task_ids: str, **agent: Any) -> list[Any]:
    spec = LLMAgent.child_spec("calc", bus, client=server.client(), model="m", **agent)
    tasks = tuple(Task(id=t, agent="calc", description="add 2 and 3") for t in task_ids)
    with Team([spec], bus=bus) as team:
        return list(team.run(Plan(tasks=tasks), timeout=20).tasks)


def formats(server: FakeLLMServer) -> list[str | None]:
    return [(r.get("response_format") or {}).get("type") for r in server.requests]


def test_json_schema_refused_falls_back_to_json_object_once_per_endpoint(
    traced_bus: EventBus, spans: InMemorySpanExporter
) -> None:
    endpoints = Endpoints()
    with FakeLLMServer.llama_cpp_like(lambda _body: Reply.json({"total": 5})) as server:
        [first] = run(traced_bus, server, "t1", output_type=Total, endpoints=endpoints)
        assert endpoints.output_mode(server.base_url) is OutputMode.JSON_OBJECT
        [second] = run(traced_bus, server, "t2", output_type=Total, endpoints=endpoints)
    assert (first.status, first.result) == (TaskStatus.COMPLETED, {"total": 5})
    assert (second.status, second.result) == (TaskStatus.COMPLETED, {"total": 5})
    # Refused once; then json_object, and the second task goes straight to it.
    assert formats(server) == ["json_schema", "json_object", "json_object"]
    system = server.requests[1]["messages"][0]
    assert system["role"] == "system"
    assert "JSON schema of Total" in system["content"]
    assert '"total"' in system["content"]
    chats = [s for s in spans.get_finished_spans() if s.name == "chat m"]
    modes = [dict(s.attributes or {})["actorchestra.llm.output_mode"] for s in chats]
    assert modes == ["json_schema", "json_object", "json_object"]
    assert dict(chats[0].attributes or {})["error.type"] == "BadRequestError"
    assert all("error.type" not in dict(s.attributes or {}) for s in chats[1:])
    assert all(dict(s.attributes or {})["gen_ai.output.type"] == "json" for s in chats)


def test_a_server_taking_only_text_gets_the_schema_in_the_prompt_and_a_reask(
    bus: EventBus,
) -> None:
    endpoints = Endpoints()
    script = [Reply.text("The total is five."), Reply.text('{"total": 5}')]
    with FakeLLMServer.llama_cpp_like(script, response_formats=("text",)) as server:
        [task] = run(bus, server, "t1", output_type=Total, endpoints=endpoints)
    assert (task.status, task.result) == (TaskStatus.COMPLETED, {"total": 5})
    assert formats(server) == ["json_schema", "json_object", None, None]
    assert endpoints.output_mode(server.base_url) is OutputMode.TEXT
    reask = server.requests[3]["messages"][-1]["content"]
    assert reask.startswith("Your answer does not match the Total JSON schema")


def test_the_planner_falls_back_too_and_remembers_the_endpoint(
    tracer_provider: TracerProvider, spans: InMemorySpanExporter
) -> None:
    endpoints = Endpoints()
    plan = {"tasks": [{"id": "t1", "agent": "calc", "description": "add"}]}
    with FakeLLMServer.llama_cpp_like(lambda _body: Reply.json(plan)) as server:
        planner = Planner(
            server.client(),
            "m",
            {"calc": "adds"},
            endpoints=endpoints,
            telemetry=Telemetry(tracer_provider=tracer_provider),
        )
        assert [t.id for t in planner.plan("add").tasks] == ["t1"]
        assert [t.id for t in planner.plan("add again").tasks] == ["t1"]
    assert formats(server) == ["json_schema", "json_object", "json_object"]
    assert "JSON schema of Plan" in server.requests[1]["messages"][0]["content"]
    chats = [s for s in spans.get_finished_spans() if s.name == "chat m"]
    modes = [dict(s.attributes or {})["actorchestra.llm.output_mode"] for s in chats]
    assert modes == ["json_schema", "json_object", "json_object"]


def test_tool_calls_are_echoed_in_the_plain_wire_shape(bus: EventBus) -> None:
    script = [Reply.calls(("add", {"a": 2, "b": 3})), Reply.json({"total": 5})]
    with FakeLLMServer.llama_cpp_like(script) as server:  # refuses unknown fields
        [task] = run(bus, server, "t1", tools=[add], output_type=Total, endpoints=Endpoints())
    assert task.status is TaskStatus.COMPLETED
    messages = server.requests[-1]["messages"]
    echoed = next(m for m in messages if m["role"] == "assistant")
    call_id = echoed["tool_calls"][0]["id"]
    assert echoed == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": "add", "arguments": json.dumps({"a": 2, "b": 3})},
            }
        ],
    }


def test_fields_a_server_added_are_not_echoed() -> None:
    message = ChatCompletionMessage.model_validate(
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "thinking...",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "index": 0,
                    "function": {"name": "add", "arguments": "{}"},
                }
            ],
        }
    )
    assert echo_tool_calls(message) == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{}"}}
        ],
    }


def test_a_server_refusing_tools_gets_them_in_the_prompt_learned_once(
    traced_bus: EventBus, spans: InMemorySpanExporter
) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        assert "tools" not in body and "tool_choice" not in body
        last = body["messages"][-1]["content"]
        if last.startswith("Result of tool 'add': "):
            return Reply.json({"total": int(last.rsplit(" ", 1)[1])})
        return Reply.text(
            '```json\n{"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]}\n```'
        )

    endpoints = Endpoints()
    # As llama.cpp's server without --jinja: no tools, no json_schema, strict messages.
    with FakeLLMServer.llama_cpp_like(responder, tools=False) as server:
        first = run(traced_bus, server, "t1", tools=[add], output_type=Total, endpoints=endpoints)
        second = run(traced_bus, server, "t2", tools=[add], output_type=Total, endpoints=endpoints)
    assert [(t.status, t.result) for t in first + second] == [
        (TaskStatus.COMPLETED, {"total": 5}),
        (TaskStatus.COMPLETED, {"total": 5}),
    ]
    offered = ["tools" in r for r in server.requests]
    # json_schema refused, then tools refused; from then on tools in the prompt.
    assert offered == [True, True, False, False, False, False]
    assert formats(server) == ["json_schema", *["json_object"] * 5]
    system = server.requests[2]["messages"][0]["content"]
    assert '"name":"add"' in system and '{"tool_calls": [' in system
    # The tool ran, and its call and result went back as plain text messages.
    history = server.requests[3]["messages"]
    assert history[-2] == {
        "role": "assistant",
        "content": json.dumps({"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]}),
    }
    assert history[-1] == {"role": "user", "content": "Result of tool 'add': 5"}
    chats = [dict(s.attributes or {}) for s in spans.get_finished_spans() if s.name == "chat m"]
    assert [c["actorchestra.llm.tools"] for c in chats] == ["api", "api"] + ["prompt"] * 4
    assert [c.get("error.type") for c in chats[:3]] == ["BadRequestError"] * 2 + [None]
    assert endpoints.takes_tools(server.base_url) is False
