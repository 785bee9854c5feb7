"""Elastic agent pools: grow under load, shrink when idle, within bounds, losing nothing."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from actors import (
    Agent,
    AgentPool,
    ConfigurationError,
    Limits,
    Plan,
    RetryPolicy,
    Task,
    TaskContext,
    Team,
)
from actors.lowlevel import AgentRouter
from actors.testing import EventRecorder, Faults, FaultyAgent, check_protocol
from bus import AgentJoined, AgentLeft, Event, EventBus, TaskFinished, TaskStarted
from tests.helpers import assert_threads_end, counter_by, wait_until


class Slow(Agent):
    """Takes the seconds its task's description says (0.05 by default)."""

    def handle(self, task: TaskContext) -> object:
        task.cancellation.wait(float(task.description or 0.05))
        return task.task_id


def sizes(events: list[Event], start: int) -> list[int]:
    """The pool's size after each join or leave, from ``start`` members."""
    size, out = start, []
    for e in events:
        if isinstance(e, AgentJoined | AgentLeft):
            size += 1 if isinstance(e, AgentJoined) else -1
            out.append(size)
    return out


def burst(n: int, prefix: str = "t", seconds: float = 0.05) -> Plan:
    return Plan(
        tasks=tuple(
            Task(id=f"{prefix}{i}", agent="pool", description=str(seconds)) for i in range(n)
        )
    )


def test_a_pool_grows_to_its_maximum_under_a_burst_and_shrinks_back_when_idle() -> None:
    reader = InMemoryMetricReader()
    bus = EventBus(tracing=False, meter_provider=MeterProvider(metric_readers=[reader]))
    rec = EventRecorder(bus)
    pool = AgentPool("pool", lambda m: Slow.child_spec(m, bus), max_size=8, scale_down_after=0.2)
    try:
        with Team([pool], bus=bus, limits=Limits(max_in_flight=1)) as team:
            result = team.run(burst(48), timeout=30)
            assert result.ok
            assert wait_until(lambda: sizes(rec.events, 1)[-1:] == [1], timeout=10)
            assert sorted(team.agents) == ["pool"]
    finally:
        bus.stop()
    check_protocol(rec.events)
    grown = sizes(rec.events, 1)
    assert max(grown) == 8 and min(grown) >= 1
    assert grown.index(8) < len(grown) - 1  # it shrank after it grew
    members = {e.agent for e in rec.of_type(TaskStarted)}
    assert len(members) == 8  # every member worked
    assert counter_by(reader, "actorchestra.pool.size", "actorchestra.pool") == {"pool": 0}
    waits = _histogram_count(reader, "actorchestra.orchestrator.queue_wait")
    assert waits > 0


def _histogram_count(reader: InMemoryMetricReader, name: str) -> int:
    data = reader.get_metrics_data()
    total = 0
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    points: list[Any] = list(metric.data.data_points)
                    total += sum(int(p.count) for p in points)
    return total


def test_a_member_leaves_only_when_it_runs_nothing() -> None:
    router = AgentRouter(["a"], {"a": ["pool"]})
    router.join("pool.2", ["pool"])
    assert router.members("pool") == ("a", "pool.2")
    router.started("pool.2")
    assert not router.leave("pool.2")  # an attempt in flight: it stays
    router.finished("pool.2", ok=True)
    router.started("pool.2")
    router.given_up("pool.2")
    assert not router.leave("pool.2")  # an attempt given up on may still run there
    router.returned("pool.2")
    assert router.leave("pool.2")
    assert router.members("pool") == ("a",) and router.choose("pool") == "a"
    with pytest.raises(ConfigurationError, match="routed to already"):
        router.join("a", ["pool"])


def test_pool_bounds_are_checked() -> None:
    with pytest.raises(ConfigurationError, match=r"need 1 <= min_size <= max_size"):
        AgentPool(
            "p", lambda m: Slow.child_spec(m, EventBus(tracing=False)), min_size=3, max_size=2
        )


Load = list[tuple[float, int, float]]  # bursts: (seconds after the start, tasks, seconds each)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    load=st.lists(
        st.tuples(st.floats(0, 0.4), st.integers(1, 12), st.sampled_from([0.0, 0.01, 0.05])),
        min_size=1,
        max_size=4,
    ),
    bounds=st.tuples(st.integers(1, 3), st.integers(0, 5)),
    crash=st.floats(0, 0.15),
    seed=st.integers(0, 2**16),
)
def test_no_task_is_lost_while_a_pool_grows_and_shrinks_under_random_load(
    load: Load, bounds: tuple[int, int], crash: float, seed: int
) -> None:
    low, extra = bounds
    high = low + extra
    threads_before = threading.active_count()
    bus = EventBus(tracing=False)
    rec = EventRecorder(bus)
    faults = Faults(crash=crash, slow=0.3, slow_seconds=0.02, seed=seed)
    pool = AgentPool(
        "pool",
        lambda m: FaultyAgent.spec(m, bus, _work, faults),
        min_size=low,
        max_size=high,
        scale_up_after=0.01,
        scale_down_after=0.05,
        interval=0.01,
    )
    team = Team(
        [pool],
        bus=bus,
        limits=Limits(max_in_flight=1, task_timeout=5.0),
        retry=RetryPolicy(),
        max_restarts=10_000,
    )
    futures = []
    try:
        started = time.monotonic()
        for i, (at, n, seconds) in enumerate(sorted(load)):
            time.sleep(max(0.0, at - (time.monotonic() - started)))
            plan = Plan(
                tasks=tuple(
                    Task(id=f"t{j}", agent="pool", description=str(seconds), max_attempts=10)
                    for j in range(n)
                )
            )
            futures.append(team.submit(plan, workflow_id=f"burst{i}"))
        results = [f.get(timeout=60) for f in futures]
        assert wait_until(lambda: sizes(rec.events, low)[-1:] in ([], [low]), timeout=10)
    finally:
        team.stop()
        bus.stop()
    events = rec.events
    check_protocol(events)
    finished = rec.of_type(TaskFinished)
    assert len(finished) == sum(n for _, n, _ in load)  # each task ended once
    assert all(r.ok for r in results), [r.table() for r in results if not r.ok]
    trajectory = sizes(events, low)
    assert all(low <= size <= high for size in trajectory), trajectory
    # No attempt is sent to a member after it left.
    left: set[str] = set()
    for e in events:
        if isinstance(e, AgentLeft):
            left.add(e.agent)
        elif isinstance(e, TaskStarted):
            assert e.agent not in left, f"{e.task_id} sent to {e.agent} after it left"
    assert_threads_end(threads_before)
    event(f"grew to {max(trajectory, default=low)} of {high}")
    if any(isinstance(e, AgentLeft) for e in events):
        event("a member left")


def _work(task: TaskContext) -> object:
    task.cancellation.wait(float(task.description or 0))
    return task.task_id
