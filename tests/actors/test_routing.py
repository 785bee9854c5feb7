"""Agent selection by capability and load; circuit breakers with fallback and probes."""

from __future__ import annotations

import threading
from collections import Counter
from typing import ClassVar

import pytest

from actors import (
    Agent,
    CircuitBreaker,
    ConfigurationError,
    Plan,
    RetryPolicy,
    Task,
    TaskContext,
    TaskError,
    Team,
)
from actors.lowlevel import AgentRouter
from bus import EventBus


def test_a_capability_goes_to_the_least_loaded_agent() -> None:
    router = AgentRouter(["a", "b", "c"], {"a": ["x"], "b": ["x"]})
    assert router.names == {"a", "b", "c", "x"}
    first = router.choose("x")
    router.started(first)
    second = router.choose("x")
    assert {first, second} == {"a", "b"}
    router.started(second)
    router.finished(first, ok=True)
    assert router.choose("x") == first


def test_the_circuit_opens_falls_back_probes_and_closes() -> None:
    now = [0.0]
    router = AgentRouter(
        ["a", "b"],
        {"a": ["x"], "b": ["x"]},
        CircuitBreaker(failures=2, reset_after=10),
        lambda: now[0],
    )
    for _ in range(2):
        router.started("a")
        router.finished("a", ok=False)
    assert router.is_open("a")
    assert router.choose("a") == "b"  # named, but its circuit is open: a fallback
    assert router.choose("x") == "b"
    now[0] = 10.0
    assert router.choose("a") == "a"  # half-open: one probe
    router.started("a")
    assert router.choose("a") == "b"  # only one probe at a time
    router.finished("a", ok=False)  # the probe failed: open again
    assert router.is_open("a")
    now[0] = 20.0
    assert router.choose("a") == "a"
    router.started("a")
    router.finished("a", ok=True)  # the probe succeeded: closed
    assert not router.is_open("a") and router.choose("a") == "a"


def test_with_every_candidate_open_the_longest_open_is_tried() -> None:
    now = [0.0]
    router = AgentRouter(["a"], None, CircuitBreaker(failures=1, reset_after=60), lambda: now[0])
    router.started("a")
    router.finished("a", ok=False)
    assert router.choose("a") == "a"


def test_routing_configuration_errors_are_clear() -> None:
    with pytest.raises(
        ConfigurationError, match=r"^Capability 'a' has the name of an agent; rename one of them\.$"
    ):
        AgentRouter(["a", "b"], {"b": ["a"]})
    with pytest.raises(
        ConfigurationError, match=r"^Capabilities given for unknown agent 'z'; declare it first\.$"
    ):
        AgentRouter(["a"], {"z": ["x"]})
    with pytest.raises(
        ConfigurationError, match=r"^'nope' is neither a declared agent nor a capability\.$"
    ):
        AgentRouter(["a"]).choose("nope")
    with pytest.raises(ConfigurationError, match=r"^CircuitBreaker\(failures=0, reset_after=1\)"):
        CircuitBreaker(failures=0, reset_after=1)


class Broken(Agent):
    def handle(self, task: TaskContext) -> object:
        raise TaskError("model endpoint down", retryable=True)


class Works(Agent):
    seen: ClassVar[Counter[str]] = Counter()
    lock: ClassVar[threading.Lock] = threading.Lock()

    def handle(self, task: TaskContext) -> object:
        with Works.lock:
            Works.seen[self.name] += 1
        return self.name


def test_work_moves_off_a_failing_agent_to_one_with_the_same_capability(bus: EventBus) -> None:
    Works.seen.clear()
    specs = [
        Broken.child_spec("flaky", bus, capabilities=["analysis"]),
        Works.child_spec("steady", bus, capabilities=["analysis"]),
    ]
    tasks = tuple(Task(id=f"t{i}", agent="flaky", max_attempts=3) for i in range(6))
    breaker = CircuitBreaker(failures=2, reset_after=60)
    with Team(specs, bus=bus, retry=RetryPolicy(backoff=None, circuit_breaker=breaker)) as team:
        result = team.run(Plan(tasks=tasks), timeout=20)
        capability = team.run(Plan(tasks=(Task(id="c", agent="analysis"),)), timeout=20)
    assert result.ok, [t.error for t in result.tasks]
    assert {t.agent for t in result.tasks} == {"steady"}
    assert capability.ok and capability.tasks[0].agent == "steady"
    assert Works.seen["steady"] == 7


class Held(Agent):
    """Runs until its attempt is cancelled (at most 5 s), then answers."""

    def handle(self, task: TaskContext) -> object:
        task.cancellation.wait(5.0)
        return self.name


def test_cancelling_workflows_opens_no_circuit(bus: EventBus) -> None:
    """A cancelled attempt is not the agent's failure (only failed, crashed or timed out)."""
    specs = [
        Held.child_spec("first", bus, capabilities=["analysis"]),
        Held.child_spec("second", bus, capabilities=["analysis"]),
    ]
    breaker = CircuitBreaker(failures=2, reset_after=60)
    plan = Plan(tasks=(Task(id="t", agent="first"),))
    with Team(specs, bus=bus, retry=RetryPolicy(circuit_breaker=breaker)) as team:
        for i in range(3):  # more cancellations than the breaker's threshold
            future = team.submit(plan, workflow_id=f"w{i}")
            team.cancel(f"w{i}")
            assert not future.get(timeout=10).ok
        named = team.submit(plan, workflow_id="after")
        team.cancel("after")  # it must have gone to "first": its circuit is closed
        assert named.get(timeout=10).tasks[0].agent == "first"
