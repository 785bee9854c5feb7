"""Cancellation reaches the work: a slow model (seconds per call) is stopped in seconds."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from actors import (
    LLMAgent,
    Plan,
    Planner,
    Task,
    TaskCancelled,
    TaskStatus,
    Team,
    WorkflowResult,
)
from actors.testing import EventRecorder, FakeLLMServer, Reply
from bus import CancelRequested, EventBus

SLOW = 30.0  # seconds per model call: a loaded or local endpoint


def note(text: str) -> str:
    """Write a note."""
    return text


def test_an_attempt_timeout_stops_the_model_call_and_the_retry_completes(bus: EventBus) -> None:
    requests: list[float] = []

    def responder(_request: dict[str, Any]) -> Reply:
        requests.append(time.monotonic())
        return Reply(content="too late", delay=SLOW) if len(requests) == 1 else Reply.text("ok")

    with FakeLLMServer(responder) as server:
        spec = LLMAgent.child_spec("writer", bus, client=server.client(timeout=60), model="m")
        with Team([spec], bus=bus, retry_backoff=None) as team:
            started = time.monotonic()
            plan = Plan(tasks=(Task(id="t1", agent="writer", timeout=1.0, max_attempts=2),))
            result = team.run(plan, timeout=20)
            took = time.monotonic() - started
    [task] = result.tasks
    assert (task.status, task.attempts, task.result) == (TaskStatus.COMPLETED, 2, "ok")
    assert task.late_replies == 1  # attempt 1, cancelled, reported back
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
