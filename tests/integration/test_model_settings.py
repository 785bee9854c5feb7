"""Model settings over real HTTP: they reach the request body and the ``chat`` span."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actors import (
    ConfigurationError,
    LLMAgent,
    ModelSettings,
    Plan,
    Planner,
    Task,
    TaskContext,
    TaskStatus,
    Team,
    WorkflowResult,
)
from actors.testing import FakeLLMServer, Reply
from bus import EventBus, Telemetry


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


SETTINGS = ModelSettings(
    max_tokens=64,
    temperature=0.2,
    top_p=0.9,
    seed=7,
    stop=("END",),
    tool_choice="add",
    parallel_tool_calls=False,
    extra_body={"top_k": 20},
)


def run(
    bus: EventBus, server: FakeLLMServer, tasks: tuple[Task, ...], **agent: Any
) -> WorkflowResult:
    spec = LLMAgent.child_spec("calc", bus, client=server.client(), model="m", **agent)
    with Team([spec], bus=bus) as team:
        return team.run(Plan(tasks=tasks), timeout=20)


def test_settings_reach_the_request_body_and_the_chat_span(
    traced_bus: EventBus, spans: InMemorySpanExporter
) -> None:
    script = [Reply.calls(("add", {"a": 2, "b": 3})), Reply.text("5")]
    with FakeLLMServer(script) as server:
        result = run(
            traced_bus, server, (Task(id="t1", agent="calc", max_attempts=1),),
            tools=[add], settings=SETTINGS,
        )  # fmt: skip
    assert result.tasks[0].status is TaskStatus.COMPLETED
    first, second = server.requests
    for body in (first, second):
        assert (body["max_tokens"], body["temperature"], body["top_p"], body["seed"]) == (
            64, 0.2, 0.9, 7,
        )  # fmt: skip
        assert body["stop"] == ["END"]
        assert body["top_k"] == 20  # extra_body, merged into the body
        assert body["parallel_tool_calls"] is False
    # A forced tool call holds for the first call only, so the loop can end.
    assert first["tool_choice"] == {"type": "function", "function": {"name": "add"}}
    assert second["tool_choice"] == "auto"
    chats = [s for s in spans.get_finished_spans() if s.name == "chat m"]
    assert len(chats) == 2
    attributes = dict(chats[0].attributes or {})
    assert attributes["gen_ai.request.max_tokens"] == 64
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.request.top_p"] == 0.9
    assert attributes["gen_ai.request.seed"] == 7
    assert attributes["gen_ai.request.stop_sequences"] == ("END",)
    assert not any("top_k" in key or "extra" in key for key in attributes)


def test_settings_are_overridden_per_task_by_id_or_by_a_function(bus: EventBus) -> None:
    tasks = (Task(id="t1", agent="calc"), Task(id="t2", agent="calc", description="short"))
    base = ModelSettings(max_tokens=64, temperature=0.2)
    with FakeLLMServer(lambda _body: Reply.text("ok")) as server:
        by_id = {"t2": ModelSettings(max_tokens=5)}
        assert (
            run(bus, server, tasks, settings=base, task_settings=by_id).status
            is TaskStatus.COMPLETED
        )
        bodies = {b["messages"][-1]["content"].split(":")[0]: b for b in server.requests}
    assert (bodies["Task t1"]["max_tokens"], bodies["Task t1"]["temperature"]) == (64, 0.2)
    assert (bodies["Task t2"]["max_tokens"], bodies["Task t2"]["temperature"]) == (5, 0.2)

    def by_description(task: TaskContext) -> ModelSettings | None:
        return ModelSettings(temperature=None, seed=1) if task.description == "short" else None

    with FakeLLMServer(lambda _body: Reply.text("ok")) as server:
        run(bus, server, tasks, settings=base, task_settings=by_description)
        bodies = {b["messages"][-1]["content"].split(":")[0]: b for b in server.requests}
    assert "seed" not in bodies["Task t1"]
    assert bodies["Task t2"]["seed"] == 1
    assert "temperature" not in bodies["Task t2"]  # set to None by the override: not sent


def test_tool_options_are_sent_only_with_tools(bus: EventBus) -> None:
    with FakeLLMServer([Reply.text("ok")]) as server:
        run(bus, server, (Task(id="t1", agent="calc"),),
            settings=ModelSettings(tool_choice="auto", parallel_tool_calls=True))  # fmt: skip
    assert "tool_choice" not in server.requests[0]
    assert "parallel_tool_calls" not in server.requests[0]


def test_a_tool_choice_naming_no_tool_is_refused(bus: EventBus) -> None:
    with (
        FakeLLMServer([]) as server,
        pytest.raises(
            ConfigurationError,
            match=(
                r"^LLMAgent 'calc' has tool_choice 'sub', which is none of its tools \['add'\]; "
                r"name one of them, or use 'auto', 'none' or 'required'\.$"
            ),
        ),
    ):
        LLMAgent(
            name="calc", bus=bus, client=server.client(), model="m", tools=[add],
            settings=ModelSettings(tool_choice="sub"),
        )  # fmt: skip
    # Per task, the same mistake fails the attempt for good (no retry).
    with FakeLLMServer([]) as server:
        result = run(
            bus, server, (Task(id="t1", agent="calc"),), tools=[add],
            task_settings={"t1": ModelSettings(tool_choice="sub")},
        )  # fmt: skip
    [task] = result.tasks
    assert (task.status, task.attempts) == (TaskStatus.FAILED, 1)
    assert server.requests == []


def test_the_planner_sends_its_settings_and_a_per_call_override(
    tracer_provider: Any, spans: InMemorySpanExporter
) -> None:
    plan = {"tasks": [{"id": "t1", "agent": "calc", "description": "add"}]}
    with FakeLLMServer(lambda _body: Reply.json(plan)) as server:
        planner = Planner(
            server.client(), "m", {"calc": "adds"},
            settings=ModelSettings(max_tokens=300, temperature=0.0, tool_choice="required"),
            telemetry=Telemetry(tracer_provider=tracer_provider),
        )  # fmt: skip
        planner.plan("add things")
        planner.plan("add things", settings=ModelSettings(max_tokens=50))
    first, second = server.requests
    assert (first["max_tokens"], first["temperature"]) == (300, 0.0)
    assert (second["max_tokens"], second["temperature"]) == (50, 0.0)
    assert "tool_choice" not in first  # the planner offers no tools
    chats = [s for s in spans.get_finished_spans() if s.name == "chat m"]
    assert [dict(s.attributes or {})["gen_ai.request.max_tokens"] for s in chats] == [300, 50]
