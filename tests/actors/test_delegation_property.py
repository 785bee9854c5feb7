"""Delegation under faults: random plans (with optional dependencies, conditions and error
budgets) whose agents delegate random sub-plans (nested, past the depth bound too),
crashes, hangs and a cancelled root; check_protocol holds, every task of every nested
workflow ends exactly once, and nothing is left running."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Sequence

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from actors import (
    Backoff,
    Delegate,
    Limits,
    Plan,
    RetryPolicy,
    TaskContext,
    TaskResult,
    TaskStatus,
    Team,
    WorkflowResult,
)
from actors.testing import EventRecorder, Faults, FaultyAgent, check_protocol, plans
from bus import EventBus, TaskFinished, TaskStarted, WorkflowFinished, WorkflowStarted
from tests.actors.test_protocol_property import run_plan
from tests.helpers import fault_schedules

TIMEOUT = 0.3  # seconds per attempt, a delegating one's child included
BACKOFF = Backoff(minimum=0.001, maximum=0.01, jitter=0.5)
MAX_DEPTH = 2  # Limits.max_delegation_depth; agents delegate one level deeper too


class Delegating:
    """The agents' work: delegate one of ``subplans`` (drawn per workflow, task and attempt
    with probability ``p``, up to one level past the depth bound), else answer."""

    def __init__(self, subplans: Sequence[Plan], p: float, seed: int) -> None:
        self.subplans = subplans
        self.p = p
        self.seed = seed

    def work(self, task: TaskContext) -> object:
        key = f"{self.seed}/{task.workflow_id}/{task.task_id}/{task.attempt}".encode()
        draw = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")
        depth = task.workflow_id.count("/")
        if depth <= MAX_DEPTH and (draw % 1000) / 1000 < self.p:
            return Delegate(self.subplans[draw % len(self.subplans)])
        return {"task": task.task_id, "inputs": sorted(task.inputs)}


Scenario = tuple[list[str], Plan, list[Plan], float, Faults, float | None]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    agents = [f"agent{i}" for i in range(draw(st.integers(1, 3)))]
    branches = draw(st.booleans())  # optional dependencies, conditions, error budgets
    plan = draw(plans(agents, max_tasks=8, branches=branches))
    sub = plans(agents, max_tasks=4, branches=branches)
    subplans = draw(st.lists(sub, min_size=1, max_size=3))
    faults = draw(fault_schedules(scale=2 / 3))
    delegate = draw(st.floats(0.1, 0.7))  # the share of attempts that delegate
    cancel_after = draw(st.none() | st.floats(0.0, 0.3))
    return agents, plan, subplans, delegate, faults, cancel_after


def threads() -> set[threading.Thread]:
    """The threads alive, but the process's timer thread (it outlives teams by design)."""
    return {t for t in threading.enumerate() if t.name != "actorchestra-timers"}


def walk(result: WorkflowResult) -> list[tuple[str, TaskResult]]:
    """Every task of the result tree, with its workflow's id."""
    out = []
    for t in result.tasks:
        out.append((result.workflow_id, t))
        if t.workflow is not None:
            out.extend(walk(t.workflow))
    return out


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=scenarios())
def test_every_task_of_every_nested_workflow_ends_exactly_once(scenario: Scenario) -> None:
    agents, plan, subplans, delegate, faults, cancel_after = scenario
    threads_before = threads()
    bus = EventBus(tracing=False)
    rec = EventRecorder(bus)
    FaultyAgent.reset()
    work = Delegating(subplans, delegate, faults.seed).work
    team = Team(
        [FaultyAgent.spec(a, bus, work, faults) for a in agents],
        bus=bus,
        limits=Limits(task_timeout=TIMEOUT, max_delegation_depth=MAX_DEPTH),
        retry=RetryPolicy(backoff=BACKOFF),
        max_restarts=10_000,  # crashes are injected on purpose: never escalate here
    )
    # The parent's attempt timer bounds each delegating attempt, child included.
    bound = sum(t.max_attempts * (TIMEOUT + BACKOFF.maximum * 1.5) for t in plan.tasks) + 10.0
    try:
        result = run_plan(team, plan, cancel_after, bound)
    finally:
        FaultyAgent.release_all()
        team.stop()
        bus.stop()
    # Nothing left running (the process's timer thread ends on its own when idle).
    deadline = time.monotonic() + 10.0
    while len(threads()) > len(threads_before) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threads() == threads_before

    events = rec.events
    check_protocol(events)
    started = {e.workflow_id: e for e in events if isinstance(e, WorkflowStarted)}
    finished = {e.workflow_id: e for e in events if isinstance(e, WorkflowFinished)}
    # Every workflow, nested ones included, ended; every task of each exactly once.
    assert set(finished) == set(started)
    ends = Counter((e.workflow_id, e.task_id) for e in events if isinstance(e, TaskFinished))
    expected = {(wf, t.id) for wf, s in started.items() for t in Plan.model_validate(s.plan).tasks}
    assert set(ends) == expected
    assert set(ends.values()) == {1}
    for wf_id, s in started.items():  # a child is started by a task of a workflow here
        if wf_id != "wf":
            assert s.parent_workflow_id in started
            assert wf_id.startswith(f"{s.parent_workflow_id}/{s.parent_task_id}.")
            assert wf_id.count("/") <= MAX_DEPTH
    # The result tree agrees with the records.
    status = {(e.workflow_id, e.task_id): e.status for e in events if isinstance(e, TaskFinished)}
    for wf_id, t in walk(result):
        assert t.status.value == status[wf_id, t.task_id]
    # The root ended last: no child workflow ran on, and nothing started, after it.
    root_end = events.index(finished["wf"])
    assert all(events.index(f) <= root_end for f in finished.values())
    assert not [e for e in events[root_end:] if isinstance(e, TaskStarted)]
    if result.status is TaskStatus.CANCELLED and cancel_after is not None:
        # Cancelling the root cancelled each child workflow still running then.
        cancelled_at = next(
            i
            for i, e in enumerate(events)
            if isinstance(e, TaskFinished) and e.error == "cancelled: the caller left"
        )
        for wf_id, f in finished.items():
            if events.index(started[wf_id]) < cancelled_at < events.index(f):
                assert f.status in ("cancelled", "failed"), wf_id
    # What the schedules covered (shown by --hypothesis-show-statistics).
    depth = max(wf.count("/") for wf in started)
    event(f"nesting depth {depth}")
    event(f"workflow {result.status.value}")
    if any(t.error.startswith("DelegationError: task") for _, t in walk(result)):
        event("the depth bound stopped a delegation")
    if any(t.status is TaskStatus.SKIPPED for _, t in walk(result)):
        event("a task was skipped")
    if any(t.error_kind == "timeout" and t.workflow for _, t in walk(result)):
        event("a delegating task timed out and its child was cancelled")
