"""Cancellation reaches the work: a slow model (seconds per call) is stopped in seconds."""

from __future__ import annotations

import importlib.util
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actors import (
    Agent,
    LLMAgent,
    Plan,
    Planner,
    RetryPolicy,
    Task,
    TaskCancelled,
    TaskContext,
    TaskStatus,
    Team,
    WorkflowResult,
    WorkflowTimeout,
)
from actors.testing import EventRecorder, FakeLLMServer, Reply
from bus import CancelRequested, EventBus, TaskFailed
from tests.helpers import DUE_DILIGENCE, clean_env, run_example, wait_until

SLOW = 30.0  # seconds per model call: a loaded or local endpoint


def note(text: str) -> str:
    """Write a note."""
    return text


def test_an_attempt_timeout_stops_the_model_call_and_the_retry_completes(bus: EventBus) -> None:
    requests: list[float] = []

    def responder(_request: dict[str, Any]) -> Reply:
        requests.append(time.monotonic())
        return Reply(content="too late", delay=SLOW) if len(requests) == 1 else Reply.text("ok")

    failed = EventRecorder(bus, TaskFailed)
    with FakeLLMServer(responder) as server:
        spec = LLMAgent.child_spec("writer", bus, client=server.client(timeout=60), model="m")
        with Team([spec], bus=bus, retry=RetryPolicy(backoff=None)) as team:
            started = time.monotonic()
            plan = Plan(tasks=(Task(id="t1", agent="writer", timeout=1.0, max_attempts=2),))
            result = team.run(plan, timeout=20)
            took = time.monotonic() - started
    [task] = result.tasks
    assert (task.status, task.attempts, task.result) == (TaskStatus.COMPLETED, 2, "ok")
    # Attempt 1 stopped and said so: after the orchestrator gave up on it (a late reply),
    # or first, when the agent's own deadline (1 s from when it started) fired before the
    # orchestrator's timer (1 s from dispatch), as happens on a loaded machine.
    assert [e.attempt for e in failed.events] == [1]
    assert task.late_replies in (0, 1)
    assert took < 1.0 + 3.0  # the timeout, then a retry that did not wait for the model
    assert len(requests) == 2


def test_cancelling_a_workflow_stops_its_model_calls(bus: EventBus) -> None:
    requests: list[float] = []
    first = threading.Event()
    slow = threading.Event()
    slow.set()

    def responder(request: dict[str, Any]) -> Reply:
        requests.append(time.monotonic())
        first.set()
        if not slow.is_set():
            return Reply.text("next")
        if request["messages"][-1]["role"] == "tool":  # a tool loop of 15 slow calls
            return Reply(tool_calls=(("note", {"text": "more"}),), delay=SLOW)
        return Reply(tool_calls=(("note", {"text": "start"}),), delay=SLOW)

    recorder = EventRecorder(bus, CancelRequested)
    with FakeLLMServer(responder) as server:
        spec = LLMAgent.child_spec(
            "writer", bus, client=server.client(timeout=60), model="m", tools=[note]
        )
        with Team([spec], bus=bus) as team:
            future = team.submit(Plan(tasks=(Task(id="t1", agent="writer"),)), workflow_id="w")
            assert first.wait(10)
            cancelled_at = time.monotonic()
            team.cancel("w", "the user left")
            result: WorkflowResult = future.get(timeout=10)
            assert recorder.wait_for(bool)
            # The agent is free within seconds: the next workflow starts at once.
            assert requests_after(requests, cancelled_at) == 0
            slow.clear()
            nxt = team.run(Plan(tasks=(Task(id="t2", agent="writer"),)), timeout=10)
            took = time.monotonic() - cancelled_at
    assert result.tasks[0].status is TaskStatus.CANCELLED
    assert recorder.events[0].reason == "cancelled: the user left"  # type: ignore[attr-defined]
    assert nxt.answer == "next"
    assert took < 5.0


def requests_after(requests: list[float], moment: float) -> int:
    return len([t for t in requests if t > moment])


def test_planning_stops_at_its_timeout() -> None:
    with FakeLLMServer([Reply(content="{}", delay=SLOW)]) as server:
        planner = Planner(server.client(timeout=60), "m", {"a": "does a"})
        started = time.monotonic()
        with pytest.raises(TaskCancelled, match=r"^attempt cancelled: timeout$"):
            planner.plan("do a", timeout=0.5)
        assert time.monotonic() - started < 3.0


def test_run_past_its_timeout_cancels_the_workflow_and_says_which(bus: EventBus) -> None:
    requests: list[float] = []

    def responder(request: dict[str, Any]) -> Reply:
        requests.append(time.monotonic())
        if "slow" in request["messages"][-1]["content"]:
            return Reply(content="too late", delay=SLOW)
        return Reply.text("quick")

    with FakeLLMServer(responder) as server:
        spec = LLMAgent.child_spec("writer", bus, client=server.client(timeout=60), model="m")
        plan = Plan(
            tasks=(
                Task(id="t1", agent="writer", description="quick"),
                Task(id="t2", agent="writer", description="slow", depends_on=("t1",)),
                Task(id="t3", agent="writer", description="quick", depends_on=("t2",)),
            )
        )
        with Team([spec], bus=bus) as team:
            started = time.monotonic()
            with pytest.raises(WorkflowTimeout) as info:
                team.run(plan, timeout=2, workflow_id="report-7")
            gave_up = time.monotonic()
            time.sleep(1.0)  # no model call of the workflow starts after it gave up
    error = info.value
    assert isinstance(error, TimeoutError)
    assert error.workflow_id == "report-7"
    assert str(error) == (
        "Workflow 'report-7' did not end within 2 s; it was cancelled (see .partial for "
        "what it had done)."
    )
    assert error.partial is not None
    assert [(t.task_id, t.status) for t in error.partial.tasks] == [
        ("t1", TaskStatus.COMPLETED),
        ("t2", TaskStatus.CANCELLED),
        ("t3", TaskStatus.CANCELLED),
    ]
    assert error.partial.tasks[0].result == "quick"
    assert gave_up - started < 2.0 + 2.0
    assert requests_after(requests, gave_up) == 0
    assert len(requests) == 2


class Stubborn(Agent):
    """Ignores cancellation: blocks until released (a handler that never checks)."""

    release = threading.Event()

    def handle(self, task: TaskContext) -> object:
        Stubborn.release.wait(SLOW)
        return "late"


def test_leaving_the_team_returns_within_its_deadline(
    bus: EventBus, caplog: pytest.LogCaptureFixture
) -> None:
    Stubborn.release.clear()
    requests: list[float] = []

    def slow(_request: dict[str, Any]) -> Reply:
        requests.append(time.monotonic())
        return Reply(content="too late", delay=SLOW)

    dropped_before = Agent.dropped_late
    try:
        with FakeLLMServer(slow) as server:
            specs = [
                Stubborn.child_spec("stubborn", bus),
                LLMAgent.child_spec("writer", bus, client=server.client(timeout=60), model="m"),
            ]
            team = Team(specs, bus=bus)
            plan = Plan(tasks=(Task(id="a", agent="stubborn"), Task(id="b", agent="writer")))
            future = team.submit(plan)
            assert wait_until(lambda: len(requests) == 1)
            started = time.monotonic()
            team.stop(timeout=2.0)
            took = time.monotonic() - started
            result = future.get(timeout=1)
    finally:
        Stubborn.release.set()
    # The abandoned agent's late outcome is dropped and counted, not published.
    assert wait_until(lambda: Agent.dropped_late == dropped_before + 1)
    assert took < 2.0 + 1.0
    assert {t.status for t in result.tasks} == {TaskStatus.CANCELLED}
    abandoned = [r for r in caplog.records if "abandoned" in r.getMessage()]
    assert [r.getMessage() for r in abandoned] == [
        "Supervisor 'team.agents' abandoned 'stubborn' that did not stop in time (they "
        "ignore cancellation); their late events are dropped"
    ]


def _offline_responder() -> Callable[[dict[str, Any]], Reply]:
    spec = importlib.util.spec_from_file_location("due_diligence_example", DUE_DILIGENCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    responder: Callable[[dict[str, Any]], Reply] = module.offline_responder
    return responder


def test_the_example_exits_soon_after_its_workflow_times_out() -> None:
    offline = _offline_responder()

    def slow_agents(request: dict[str, Any]) -> Reply:
        reply = offline(request)
        schema = (request.get("response_format") or {}).get("json_schema", {}).get("name")
        return reply if schema == "Plan" else Reply(content=reply.content, delay=SLOW)

    with FakeLLMServer(slow_agents) as server:
        env = clean_env(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="offline")
        started = time.monotonic()
        proc = run_example("--timeout", "3", env=env)
        took = time.monotonic() - started
    assert proc.returncode == 1
    assert took < 3 + 10
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert re.match(
        r"^error: Workflow '\w+' did not end within [\d.]+ s; it was cancelled", errors[0]
    )
    assert "Traceback" not in proc.stderr
    assert "Exception in thread" not in proc.stderr


def test_the_workflow_span_says_why_it_ended(
    tracer_provider: TracerProvider, spans: InMemorySpanExporter
) -> None:
    bus = EventBus(tracer_provider=tracer_provider)
    Stubborn.release.clear()
    team = Team([Stubborn.child_spec("stubborn", bus)], bus=bus)
    try:
        with pytest.raises(WorkflowTimeout):
            team.run(Plan(tasks=(Task(id="a", agent="stubborn"),)), timeout=0.5, name="report")
    finally:
        team.stop(timeout=0.5)
        Stubborn.release.set()
        bus.stop()
    [span] = [s for s in spans.get_finished_spans() if s.name == "invoke_workflow report"]
    assert span.status.description == (
        "cancelled: Team.run gave up after 0.5 s; tasks not completed: ['a']"
    )
