"""The LLM agent survives each injected LLM fault, against the real local HTTP server."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from actors import LLMAgent, Plan, Task, TaskStatus, Team
from actors.testing import FakeLLMServer, LLMFaults, Reply
from actors.testing.llm_faults import LLM_FAULTS
from bus import EventBus


class Total(BaseModel):
    total: int


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def good(request: dict[str, Any]) -> Reply:
    if request["messages"][-1]["role"] == "tool":
        return Reply.json({"total": 5})
    return Reply.calls(("add", {"a": 2, "b": 3}))


def run(bus: EventBus, faults: LLMFaults, *, timeout: float = 1.0) -> tuple[Any, FakeLLMServer]:
    with FakeLLMServer(faults) as server:
        spec = LLMAgent.child_spec(
            "calc",
            bus,
            client=server.client(max_retries=2, timeout=timeout),
            model="m",
            tools=[add],
            output_type=Total,
        )
        with Team([spec], bus=bus) as team:
            result = team.run(Plan(tasks=(Task(id="t", agent="calc", max_attempts=1),)), timeout=30)
    return result.tasks[0], server


def sent_back(server: FakeLLMServer) -> str:
    """Everything the agent sent to the model after its first request."""
    return " ".join(str(m.get("content")) for r in server.requests[1:] for m in r["messages"])


@pytest.mark.parametrize("fault", LLM_FAULTS)
def test_the_agent_recovers_from_one_fault(bus: EventBus, fault: str) -> None:
    faults = LLMFaults(good, script=[fault], retry_after=0.3, slow_seconds=2.0)
    task, server = run(bus, faults)
    assert (task.status, task.result, task.attempts) == (TaskStatus.COMPLETED, {"total": 5}, 1)
    assert faults.log[0][1] == fault
    if fault in ("rate_limit", "server_error", "slow", "drop"):
        # The openai client retried the same request over HTTP.
        assert server.requests[0] == server.requests[1]
    if fault == "rate_limit":
        (t0, _), (t1, _) = faults.log[:2]
        assert t1 - t0 >= 0.3  # Retry-After was honoured
    if fault == "bad_tool_arguments":
        assert "Arguments for tool 'add' are invalid" in sent_back(server)
    if fault == "unknown_tool":
        assert "there is no tool named 'no_such_tool'" in sent_back(server)
    if fault == "bad_output":
        assert "does not match the Total JSON schema" in sent_back(server)


def test_faults_past_the_clients_retries_fail_the_task_with_the_cause(bus: EventBus) -> None:
    faults = LLMFaults(good, script=["server_error"] * 3)
    task, _ = run(bus, faults)
    assert task.status is TaskStatus.FAILED
    assert task.error.startswith(
        "TaskError: Model call for agent 'calc' failed: InternalServerError"
    )


def test_seeded_faults_repeat_exactly() -> None:
    def draws(seed: int) -> list[str | None]:
        faults = LLMFaults(good, probabilities={"server_error": 0.3, "slow": 0.2}, seed=seed)
        for _ in range(50):
            faults({"messages": [{"role": "user", "content": "x"}]})
        return [f for _, f in faults.log]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)
    assert {"server_error", "slow", None} == set(draws(7))
