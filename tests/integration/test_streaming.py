"""Token streaming over real HTTP: the local server's SSE, and progress events on the bus."""

from __future__ import annotations

import asyncio
import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import openai
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from actors import Endpoints, LLMAgent, Plan, Task, TaskStatus, Team
from actors.testing import EventRecorder, FakeLLMServer, Reply
from bus import Event, EventBus, TaskCompleted, TaskProgress, TokenUsage

ANSWER = "The merger is low risk: revenue grew 5% and no litigation is open."


class Total(BaseModel):
    total: int


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_a_plain_openai_client_streams_from_the_local_server() -> None:
    with FakeLLMServer([Reply.text(ANSWER), Reply.calls(("add", {"a": 2, "b": 3}))]) as server:
        client = server.client()
        assert [m.id for m in client.models.list()] == ["fake-model"]
        stream = client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "assess"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == ANSWER
        assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 5
        assert chunks[-2].choices[0].finish_reason == "stop"
        assert chunks[-1].choices == []
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
        calls = list(
            client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "add"}], stream=True
            )
        )
        arguments = "".join(
            c.choices[0].delta.tool_calls[0].function.arguments or ""
            for c in calls
            if c.choices
            and c.choices[0].delta.tool_calls
            and c.choices[0].delta.tool_calls[0].function
        )
        assert json.loads(arguments) == {"a": 2, "b": 3}
        assert calls[-1].choices[0].finish_reason == "tool_calls"
        assert all(c.usage is None for c in calls)  # no usage chunk unless asked


def test_the_wire_is_server_sent_events_ending_with_done() -> None:
    with FakeLLMServer([Reply.text("hi there")]) as server:
        url = urlsplit(server.base_url)
        connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=5)
        body = {"model": "m", "messages": [], "stream": True}
        connection.request("POST", "/v1/chat/completions", json.dumps(body))
        response = connection.getresponse()
        data = response.read().decode()
        connection.close()
    assert response.getheader("Content-Type") == "text/event-stream"
    events = [e for e in data.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    first = json.loads(events[0].removeprefix("data: "))
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}


def run(bus: EventBus, server: FakeLLMServer, **agent: Any) -> Any:
    spec = LLMAgent.child_spec(
        "analyst", bus, client=server.client(), model="m", endpoints=Endpoints(), **agent
    )
    with Team([spec], bus=bus) as team:
        result = team.run(Plan(tasks=(Task(id="t1", agent="analyst", max_attempts=1),)), timeout=20)
    return result.tasks[0]


def usage_of(events: list[Event]) -> TokenUsage:
    [completed] = [e for e in events if isinstance(e, TaskCompleted)]
    return completed.usage


def test_streamed_text_arrives_as_ordered_progress_events_before_the_result(
    bus: EventBus,
) -> None:
    recorder = EventRecorder(bus)
    with FakeLLMServer(lambda _body: Reply.text(ANSWER)) as server:
        streamed = run(bus, server, stream=True, progress_interval=0)
    events = recorder.events
    recorder.close()
    assert (streamed.status, streamed.result) == (TaskStatus.COMPLETED, ANSWER)
    progress = [e for e in events if isinstance(e, TaskProgress)]
    assert len(progress) > 5
    assert [p.sequence for p in progress] == list(range(len(progress)))
    assert [p.chunks for p in progress] == list(range(1, len(progress) + 1))
    assert "".join(p.text for p in progress) == ANSWER
    assert {(p.agent, p.task_id, p.attempt, p.model_call) for p in progress} == {
        ("analyst", "t1", 1, 1)
    }
    completed_at = next(i for i, e in enumerate(events) if isinstance(e, TaskCompleted))
    assert all(events.index(p) < completed_at for p in progress)
    assert server.requests[0]["stream"] is True
    assert server.requests[0]["stream_options"] == {"include_usage": True}
    # The same answer unstreamed: the same result and token usage.
    recorder = EventRecorder(bus)
    with FakeLLMServer(lambda _body: Reply.text(ANSWER)) as server:
        plain = run(bus, server)
    assert plain.result == streamed.result
    assert usage_of(recorder.events) == usage_of(events)
    assert usage_of(events).output_tokens > 0
    assert not recorder.of_type(TaskProgress)


def test_progress_is_coalesced_by_interval(bus: EventBus) -> None:
    recorder = EventRecorder(bus, TaskProgress)
    with FakeLLMServer(lambda _body: Reply.text(ANSWER)) as server:
        task = run(bus, server, stream=True, progress_interval=60)
    progress = recorder.of_type(TaskProgress)
    # The first piece at once, the rest when the model call ends.
    assert [len(p.text) > 0 for p in progress] == [True, True]
    assert "".join(p.text for p in progress) == task.result


def test_streamed_tool_calls_and_structured_output_work(bus: EventBus) -> None:
    script = [Reply.calls(("add", {"a": 2, "b": 3})), Reply.json({"total": 5})]
    recorder = EventRecorder(bus, TaskProgress)
    with FakeLLMServer(script) as server:
        task = run(bus, server, stream=True, tools=[add], output_type=Total, progress_interval=0)
    assert (task.status, task.result) == (TaskStatus.COMPLETED, {"total": 5})
    tool_message = server.requests[1]["messages"][-1]
    assert (tool_message["role"], tool_message["content"]) == ("tool", "5")
    progress = recorder.of_type(TaskProgress)
    assert {p.model_call for p in progress} == {2}  # the first call only called a tool
    assert "".join(p.text for p in progress) == json.dumps({"total": 5})


def test_no_model_text_reaches_the_spans(traced_bus: EventBus, spans: InMemorySpanExporter) -> None:
    recorder = EventRecorder(traced_bus, TaskProgress)  # a subscriber: publish spans are made
    with FakeLLMServer(lambda _body: Reply.text(ANSWER)) as server:
        task = run(traced_bus, server, stream=True, progress_interval=0)
    assert task.result == ANSWER
    finished = spans.get_finished_spans()
    chat = next(s for s in finished if s.name == "chat m")
    attributes = dict(chat.attributes or {})
    assert attributes["gen_ai.request.stream"] is True
    output_tokens = attributes["gen_ai.usage.output_tokens"]
    first_chunk = attributes["gen_ai.response.time_to_first_chunk"]
    assert isinstance(output_tokens, int) and output_tokens > 0
    assert isinstance(first_chunk, float) and first_chunk >= 0
    words = ("merger", "litigation")
    for span in finished:
        for value in (span.attributes or {}).values():
            assert not any(w in str(value) for w in words), span.name
        for event in span.events:
            assert not any(w in str(v) for v in (event.attributes or {}).values() for w in words)
    # The progress events' publish spans are children of the agent's span (one trace).
    publishes = [s for s in finished if s.name == "publish task.progress"]
    assert len(publishes) == len(recorder.of_type(TaskProgress)) > 0
    assert {s.context.trace_id for s in publishes} == {chat.context.trace_id}


def test_a_timed_out_stream_stops_and_publishes_nothing_after_the_task_ended(
    bus: EventBus,
) -> None:
    recorder = EventRecorder(bus)
    slow = Reply(content=ANSWER, chunk_delay=0.1)  # about 1.3 s of chunks
    with FakeLLMServer(lambda _body: slow) as server:
        spec = LLMAgent.child_spec(
            "analyst", bus, client=server.client(), model="m", stream=True, progress_interval=0
        )
        with Team([spec], bus=bus) as team:
            task = Task(id="t1", agent="analyst", max_attempts=1, timeout=0.35)
            result = team.run(Plan(tasks=(task,)), timeout=20)
        events = recorder.events
    [outcome] = result.tasks
    assert outcome.status is TaskStatus.FAILED
    progress = [e for e in events if isinstance(e, TaskProgress)]
    assert 0 < len(progress) < len(ANSWER.split())
    finished = next(i for i, e in enumerate(events) if e.type == "task.finished")
    assert all(events.index(p) < finished for p in progress)


def test_a_workflow_stream_carries_the_tokens_as_they_come_to_an_async_reader(
    bus: EventBus,
) -> None:
    async def read(team: Team) -> list[Event]:
        plan = Plan(tasks=(Task(id="t1", agent="analyst", max_attempts=1),))
        return [event async for event in team.stream(plan, timeout=20)]

    with FakeLLMServer(lambda _body: Reply.text(ANSWER)) as server:
        spec = LLMAgent.child_spec(
            "analyst",
            bus,
            client=server.client(),
            model="m",
            endpoints=Endpoints(),
            stream=True,
            progress_interval=0,
        )
        with Team([spec], bus=bus) as team:
            events = asyncio.run(read(team))
    kinds = [e.type for e in events]
    progress = [e for e in events if isinstance(e, TaskProgress)]
    assert kinds[0] == "task.started" and kinds[-1] == "workflow.finished"
    assert "".join(p.text for p in progress) == ANSWER
    assert kinds.index("task.completed") > max(
        i for i, k in enumerate(kinds) if k == "task.progress"
    )


def test_an_llm_agent_takes_an_async_openai_client(bus: EventBus) -> None:
    with FakeLLMServer(lambda _body: Reply.text(ANSWER)) as server:
        client = openai.AsyncOpenAI(api_key="k", base_url=server.client().base_url)
        spec = LLMAgent.child_spec("analyst", bus, client=client, model="m", endpoints=Endpoints())
        with Team([spec], bus=bus) as team:
            result = team.run(Plan(tasks=(Task(id="t1", agent="analyst"),)), timeout=20)
    assert result.ok and result.answer == ANSWER
    assert len(server.requests) == 1
