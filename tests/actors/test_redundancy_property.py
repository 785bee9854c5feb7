"""Redundancy under faults: random DAGs whose tasks run on 2-4 agents at once (the first
result wins, or a vote), with replicas that fail, crash, hang or answer slowly, and
cancellations. Every task ends exactly once (check_protocol, rule 10 included), each
side effect runs at most once per key, and a completed task's result is one a replica
of its last attempt gave (for a majority vote, the value most of them gave)."""

from __future__ import annotations

import collections
import hashlib
import threading

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from actors import (
    Backoff,
    Limits,
    Plan,
    Redundancy,
    RetryPolicy,
    TaskContext,
    TaskStatus,
    Team,
)
from actors.testing import EventRecorder, Faults, FaultyAgent, check_protocol, plans
from bus import CancelRequested, EventBus, TaskCompleted, TaskFinished, TaskStarted
from tests.actors.test_protocol_property import Effects, run_plan
from tests.helpers import assert_threads_end

TIMEOUT = 0.2  # seconds per attempt
BACKOFF = Backoff(minimum=0.001, maximum=0.01, jitter=0.5)


class Replicated(Effects):
    """The agents' work: a side effect per task, then an answer that may differ by replica."""

    def __init__(self, spread: int, seed: int) -> None:
        super().__init__()  # one store for every agent, as a team's default
        self.spread, self.seed = spread, seed

    def work(self, task: TaskContext) -> object:
        super().work(task)
        # The answer depends on the task and the replica: with spread 1 all agree.
        digest = hashlib.blake2b(f"{self.seed}/{task.task_id}/{task.replica}".encode()).digest()
        return {"task": task.task_id, "value": digest[0] % self.spread}


Scenario = tuple[int, Plan, Faults, int, float | None]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    n = draw(st.integers(2, 5))
    plan = draw(plans(["any", "any", "agent0"], max_tasks=12, branches=draw(st.booleans())))
    tasks = []
    for task in plan.tasks:
        copies = draw(st.integers(2, 4))
        decide = draw(st.sampled_from(["first", "vote", None]))
        if decide is None:
            tasks.append(task)  # not replicated: mixed with replicated ones
            continue
        if decide == "vote":
            reducer = draw(st.sampled_from(["majority", "plurality"]))
            quorum = draw(st.none() | st.integers(1, copies))
            spec = Redundancy(copies=copies, decide="vote", reducer=reducer, quorum=quorum)
        else:
            spec = Redundancy(copies=copies)
        tasks.append(task.model_copy(update={"redundancy": spec}))
    plan = Plan(tasks=tasks, error_budget=plan.error_budget)
    p = st.floats(0, 0.1)
    faults = Faults(
        raise_=draw(p),
        crash=draw(p),
        hang=draw(st.floats(0, 0.05)),
        slow=draw(p),
        crash_after=draw(st.floats(0, 0.05)),
        hang_seconds=0.5,
        slow_seconds=0.005,
        seed=draw(st.integers(0, 2**32)),
    )
    spread = draw(st.integers(1, 3))
    cancel_after = draw(st.none() | st.floats(0.0, 0.3))
    return n, plan, faults, spread, cancel_after


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=scenarios())
def test_replicated_tasks_end_once_with_a_replicas_result_and_effects_once(
    scenario: Scenario,
) -> None:
    n, plan, faults, spread, cancel_after = scenario
    threads_before = threading.active_count()
    bus = EventBus(tracing=False)
    rec = EventRecorder(bus)
    FaultyAgent.reset()
    work = Replicated(spread, faults.seed)
    specs = [
        FaultyAgent.spec(f"agent{i}", bus, work.work, faults, capabilities=["any"])
        for i in range(n)
    ]
    bound = sum(t.max_attempts * (TIMEOUT + BACKOFF.maximum * 1.5) for t in plan.tasks) + 5.0
    team = Team(
        specs,
        bus=bus,
        limits=Limits(task_timeout=TIMEOUT),
        retry=RetryPolicy(backoff=BACKOFF),
        max_restarts=10_000,  # crashes are injected on purpose: never escalate here
    )
    try:
        result = run_plan(team, plan, cancel_after, bound)
    finally:
        FaultyAgent.release_all()
        team.stop()
        bus.stop()
    assert_threads_end(threads_before)
    events = rec.events
    check_protocol(events)
    finished = collections.Counter(e.task_id for e in events if isinstance(e, TaskFinished))
    assert finished == dict.fromkeys((t.id for t in plan.tasks), 1)
    assert len(work.log) == len(set(work.log))  # each side effect at most once per key
    tasks = {t.id: t for t in plan.tasks}
    replicas: dict[tuple[str, int], dict[str, str]] = collections.defaultdict(dict)
    for e in events:
        if isinstance(e, TaskStarted) and e.replica:
            replicas[(e.task_id, e.attempt)][e.attempt_token] = e.agent
    answers: dict[tuple[str, int], list[object]] = collections.defaultdict(list)
    for e in events:
        if isinstance(e, TaskCompleted) and e.attempt_token in replicas[(e.task_id, e.attempt)]:
            answers[(e.task_id, e.attempt)].append(e.result)
    for r in result.tasks:
        spec = tasks[r.task_id].redundancy
        if spec is None or r.status is not TaskStatus.COMPLETED:
            continue
        given = answers[(r.task_id, r.attempts)]
        assert r.result in given, (r.task_id, r.result, given)
        values = [repr(g) for g in given]
        if spec.decide == "vote" and spec.reducer == "majority":
            # most of those that answered in time agree on it (some may be late)
            assert values.count(repr(r.result)) * 2 > spec.needed, (r.task_id, values)
    cancelled = sum(isinstance(e, CancelRequested) for e in events)
    event(f"replicas cancelled: {min(cancelled, 3)}{'+' if cancelled > 3 else ''}")
    event(f"completed: {sum(t.status is TaskStatus.COMPLETED for t in result.tasks) > 0}")
