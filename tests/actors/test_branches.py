"""Branches and partial results: optional dependencies, conditions, error budgets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from actors import (
    Agent,
    Condition,
    Plan,
    PlanValidationError,
    Supervisor,
    Task,
    TaskContext,
    TaskError,
    TaskStatus,
    Team,
    WorkflowError,
)
from actors.testing import EventRecorder, ProtocolViolation, check_protocol
from bus import EventBus, TaskFinished, TaskStarted
from memory import SQLiteEventLog
from tests.helpers import wait_until


class Analyst(Agent):
    """Fails the tasks whose description says so; answers the others with what it got."""

    def handle(self, task: TaskContext) -> object:
        if task.description == "fail":
            raise TaskError("the data feed is down", retryable=False)
        return {"task": task.task_id, "inputs": sorted(task.inputs), "missing": task.missing}


def analyses_and_report(**report: object) -> Plan:
    sections = ("financial", "legal", "hr", "market")
    return Plan(
        tasks=(
            *(
                Task(id=s, agent="analyst", description="fail" if s == "legal" else s)
                for s in sections
            ),
            Task(id="report", agent="analyst", depends_on=sections, **report),
        )
    )


@pytest.fixture
def team(bus: EventBus) -> Iterator[Team]:
    with Team([Analyst.child_spec("analyst", bus)], bus=bus) as team:
        yield team


def test_the_report_runs_without_a_failed_optional_analysis_and_says_what_is_missing(
    bus: EventBus, team: Team
) -> None:
    rec = EventRecorder(bus)
    plan = analyses_and_report(optional=("financial", "legal", "hr", "market"))
    result = team.run(plan, timeout=10)
    check_protocol(rec.events)
    report = result.answer
    assert report == {
        "task": "report",
        "inputs": ["financial", "hr", "market"],
        "missing": {"legal": "failed: TaskError: the data feed is down"},
    }
    # No error budget: the workflow failed, though the report is there.
    assert result.status is TaskStatus.FAILED
    assert result.missing == {"legal": "failed: TaskError: the data feed is down"}
    started = {e.task_id: e for e in rec.of_type(TaskStarted)}
    assert started["report"].missing == report["missing"]


def test_within_its_error_budget_the_workflow_completes_with_what_failed_reported(
    team: Team,
) -> None:
    plan = analyses_and_report(optional=("legal",)).model_copy(update={"error_budget": 1})
    result = team.run(plan, timeout=10)
    assert result.ok, result.table()
    assert result.missing == {"legal": "failed: TaskError: the data feed is down"}
    assert result.answer["missing"] == {"legal": "failed: TaskError: the data feed is down"}  # type: ignore[index,call-overload]


def test_a_required_dependency_that_fails_still_cancels_its_dependents(team: Team) -> None:
    result = team.run(analyses_and_report(optional=("hr",)), timeout=10)
    statuses = {t.task_id: t.status for t in result.tasks}
    assert statuses["report"] is TaskStatus.CANCELLED
    assert result.status is TaskStatus.FAILED
    assert dict(result.tasks[-1]).get("error") == "cancelled: dependency 'legal' did not complete"


def test_past_its_error_budget_the_workflow_stops_and_fails(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    release = threading.Event()

    class Slow(Agent):
        def handle(self, task: TaskContext) -> object:
            if task.description == "fail":
                raise TaskError("no", retryable=False)
            task.cancellation.wait(10)
            release.set()
            return "late"

    plan = Plan(
        tasks=(
            Task(id="slow", agent="slow"),
            Task(id="bad1", agent="bad", description="fail"),
            Task(
                id="bad2", agent="bad", description="fail", depends_on=("bad1",), optional=("bad1",)
            ),
            Task(id="never", agent="bad", depends_on=("slow",)),
        ),
        error_budget=1,
    )
    with Team([Slow.child_spec("slow", bus), Slow.child_spec("bad", bus)], bus=bus) as team:
        result = team.run(plan, timeout=10)
    check_protocol(rec.events)
    statuses = {t.task_id: t.status.value for t in result.tasks}
    assert statuses == {
        "slow": "cancelled",
        "bad1": "failed",
        "bad2": "failed",
        "never": "cancelled",
    }
    assert result.status is TaskStatus.FAILED  # not "cancelled": it failed, as a whole
    why = "cancelled: the workflow's 2 tasks failed, over its error budget of 1"
    assert {t.task_id: t.error for t in result.tasks}["slow"] == why
    assert release.wait(5)  # the attempt in flight was asked to stop


def test_a_false_condition_skips_the_task_and_those_that_require_it(
    bus: EventBus, team: Team
) -> None:
    rec = EventRecorder(bus)
    high = Condition(input="risk", path="task", op="eq", value="somebody else")
    plan = Plan(
        tasks=(
            Task(id="risk", agent="analyst"),
            Task(id="escalate", agent="analyst", depends_on=("risk",), when=high),
            Task(id="notify", agent="analyst", depends_on=("escalate",)),
            Task(
                id="close", agent="analyst", depends_on=("risk", "escalate"), optional=("escalate",)
            ),
        )
    )
    result = team.run(plan, timeout=10)
    check_protocol(rec.events)
    assert result.ok, result.table()
    by_id = {t.task_id: t for t in result.tasks}
    assert [by_id[t].status.value for t in ("escalate", "notify", "close")] == [
        "skipped",
        "skipped",
        "completed",
    ]
    assert by_id["escalate"].error == "skipped: the condition risk.task eq 'somebody else' is false"
    assert by_id["notify"].error == "skipped: dependency 'escalate' was skipped"
    assert by_id["escalate"].attempts == 0 and by_id["escalate"].error_kind is None
    assert by_id["close"].result == {
        "task": "close",
        "inputs": ["risk"],
        "missing": {"escalate": "skipped: the condition risk.task eq 'somebody else' is false"},
    }
    assert {e.task_id for e in rec.of_type(TaskStarted)} == {"risk", "close"}
    finished = {e.task_id: e.status for e in rec.of_type(TaskFinished)}
    assert finished["escalate"] == finished["notify"] == "skipped"


def test_a_true_condition_runs_the_task(team: Team) -> None:
    plan = Plan(
        tasks=(
            Task(id="risk", agent="analyst"),
            Task(
                id="escalate",
                agent="analyst",
                depends_on=("risk",),
                when=Condition(input="risk", path="task", op="in", value=["risk", "x"]),
            ),
        )
    )
    result = team.run(plan, timeout=10)
    assert result.ok and result.answer == {"task": "escalate", "inputs": ["risk"], "missing": {}}


def test_optional_dependencies_and_conditions_are_checked_against_depends_on() -> None:
    with pytest.raises(PlanValidationError, match="marks 'b' optional, which is not in its"):
        Plan(tasks=(Task(id="a", agent="x", optional=("b",)),)).check({"x"})
    when = Condition(input="b", op="truthy")
    with pytest.raises(PlanValidationError, match="has a condition on 'b', which is not in"):
        Plan(tasks=(Task(id="b", agent="x"), Task(id="a", agent="x", when=when))).check({"x"})
    with pytest.raises(ValueError, match="error_budget"):
        Plan(tasks=(Task(id="a", agent="x"),), error_budget=-1)


class Once(Agent):
    """Counts runs; ``hold`` waits until released (so a test can stop the team mid-run)."""

    runs: ClassVar[list[str]] = []
    release = threading.Event()

    def handle(self, task: TaskContext) -> object:
        Once.runs.append(task.task_id)
        if task.description == "hold":
            Once.release.wait(10)
        if task.description == "fail":
            raise TaskError("no", retryable=False)
        return task.task_id


def test_a_resumed_workflow_keeps_its_skips_and_runs_what_is_left(tmp_path: object) -> None:
    path = f"{tmp_path}/log.db"
    Once.runs.clear()
    Once.release.clear()
    plan = Plan(
        tasks=(
            Task(id="bad", agent="w", description="fail"),
            Task(
                id="gate",
                agent="w",
                depends_on=("bad",),
                optional=("bad",),
                when=Condition(input="bad"),
            ),
            Task(id="hold", agent="w", description="hold"),
            Task(id="end", agent="w", depends_on=("gate", "hold", "bad"), optional=("gate", "bad")),
        ),
        error_budget=1,
    )
    bus = EventBus(event_log=SQLiteEventLog(path), tracing=False)
    team = Team([Once.child_spec("w", bus)], bus=bus)
    future = team.submit(plan, workflow_id="wf")
    assert wait_until(lambda: "hold" in Once.runs)
    # The orchestrator goes away with "hold" in flight, as if its process died.
    Supervisor.terminate_child(team.supervisor, "orchestrator")
    with pytest.raises(WorkflowError, match="stopped before workflow 'wf' finished"):
        future.get(timeout=5)
    Once.release.set()
    team.stop()
    bus.stop()
    Once.runs.clear()
    bus = EventBus(event_log=SQLiteEventLog(path), tracing=False)
    rec = EventRecorder(bus)
    with Team([Once.child_spec("w", bus)], bus=bus) as team:
        result = team.resume("wf").get(timeout=10)
    bus.stop()
    assert Once.runs == ["hold", "end"]  # "bad" is not run again, "gate" stays skipped
    assert result.ok, result.table()
    assert {t.task_id: t.status.value for t in result.tasks} == {
        "bad": "failed",
        "gate": "skipped",
        "hold": "completed",
        "end": "completed",
    }
    assert [e.task_id for e in rec.of_type(TaskStarted)] == ["hold", "end"]


def test_check_protocol_catches_a_skip_without_cause_and_a_start_despite_a_false_condition(
    bus: EventBus, team: Team
) -> None:
    rec = EventRecorder(bus)
    plan = Plan(
        tasks=(
            Task(id="a", agent="analyst"),
            Task(id="b", agent="analyst", depends_on=("a",), when=Condition(input="a", op="falsy")),
        )
    )
    team.run(plan, timeout=10)
    events = rec.events
    check_protocol(events)
    # The same run, as if "b" had started though its condition was false.
    finished_b = next(e for e in events if isinstance(e, TaskFinished) and e.task_id == "b")
    started_a = next(e for e in events if isinstance(e, TaskStarted))
    forged_start = started_a.model_copy(update={"task_id": "b", "attempt_token": "t"})
    with pytest.raises(
        ProtocolViolation, match=r"started though its condition \(a is falsy\) is false"
    ):
        check_protocol([*events[: events.index(finished_b)], forged_start])
    # ... or as if "b" had been skipped with a condition that holds.
    true = plan.model_copy(
        update={"tasks": (plan.tasks[0], plan.tasks[1].model_copy(update={"when": None}))}
    )
    started = next(e for e in events if e.type == "workflow.started")
    lying = started.model_copy(update={"plan": true.model_dump(mode="json")})
    with pytest.raises(ProtocolViolation, match="was skipped, yet no dependency it requires"):
        check_protocol([lying, *events[events.index(started) + 1 :]])
