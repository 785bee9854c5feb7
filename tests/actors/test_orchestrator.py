from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import BaseModel

from actors import (
    Agent,
    HandoffTo,
    Plan,
    PlanValidationError,
    Task,
    TaskContext,
    TaskError,
    TaskStatus,
    Team,
    WorkflowError,
)
from actors.testing import EventRecorder
from bus import ChildCrashed, EventBus, TaskCompleted, TaskFailed, TaskFinished, TaskStarted
from memory import SQLiteEventLog

DD_PLAN = Plan(
    tasks=(
        Task(id="t1", agent="financial"),
        Task(id="t2", agent="legal"),
        Task(id="t3", agent="hr"),
        Task(id="t4", agent="market"),
        Task(id="t5", agent="risk", depends_on=("t1", "t2", "t3", "t4")),
        Task(id="t6", agent="report", depends_on=("t5",)),
    )
)


class Echo(Agent):
    def handle(self, task: TaskContext) -> object:
        return {"task": task.task_id, "inputs": sorted(task.inputs)}


def dd_team(bus: EventBus, agent: type[Agent] = Echo, max_restarts: int = 3) -> Team:
    names = ["financial", "legal", "hr", "market", "risk", "report"]
    return Team([agent.child_spec(n, bus) for n in names], bus=bus, max_restarts=max_restarts)


def test_dependent_tasks_start_only_after_their_dependencies_completed(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    with dd_team(bus) as team:
        result = team.run(DD_PLAN, timeout=10)
    assert result.ok
    events = rec.events
    started = {e.task_id: e for e in events if isinstance(e, TaskStarted)}
    completed = {e.task_id: e for e in events if isinstance(e, TaskCompleted)}
    assert set(started) == set(completed) == {f"t{i}" for i in range(1, 7)}
    for dep in ("t1", "t2", "t3", "t4"):
        assert completed[dep].time <= started["t5"].time
        assert events.index(completed[dep]) < events.index(started["t5"])
    assert completed["t5"].time <= started["t6"].time
    assert started["t5"].inputs.keys() == {"t1", "t2", "t3", "t4"}
    assert result.answer == {"task": "t6", "inputs": ["t5"]}
    assert [t.status for t in result.tasks] == [TaskStatus.COMPLETED] * 6


def test_ready_tasks_are_dispatched_highest_priority_first(bus: EventBus) -> None:
    rec = EventRecorder(bus, TaskStarted)
    plan = Plan(tasks=tuple(Task(id=f"t{p}", agent="financial", priority=p) for p in (1, 5, 3)))
    with dd_team(bus) as team:
        assert team.run(plan, timeout=10).ok
    assert [e.task_id for e in rec.of_type(TaskStarted)] == ["t5", "t3", "t1"]


class CrashOnce(Agent):
    crashed: ClassVar[set[str]] = set()

    def handle(self, task: TaskContext) -> object:
        if task.task_id not in CrashOnce.crashed:
            CrashOnce.crashed.add(task.task_id)
            raise RuntimeError(f"crash in {task.task_id}")
        return task.attempt


def test_an_agent_that_raises_is_restarted_and_its_task_retried_to_completion(
    bus: EventBus,
) -> None:
    CrashOnce.crashed = set()
    rec = EventRecorder(bus)
    with dd_team(bus, CrashOnce, max_restarts=6) as team:
        result = team.run(DD_PLAN, timeout=10)
        tree = {c.id: c for c in team.tree()[1].children}
    assert result.ok, result.table()
    assert [t.attempts for t in result.tasks] == [2] * 6
    assert [t.result for t in result.tasks] == [2] * 6
    crashes = rec.of_type(ChildCrashed)
    assert sorted(c.task_id for c in crashes) == [f"t{i}" for i in range(1, 7)]
    assert all(c.error_type == "RuntimeError" for c in crashes)
    assert all(info.restart_count == 1 and info.alive for info in tree.values())
    completed = [e for e in rec.events if isinstance(e, TaskCompleted)]
    assert len(completed) == 6


class AlwaysFails(Agent):
    def handle(self, task: TaskContext) -> object:
        if task.task_id == "bad":
            raise TaskError("the data is unusable", retryable=True)
        return "ok"


def test_a_task_failing_every_attempt_fails_and_its_dependents_are_cancelled(bus: EventBus) -> None:
    rec = EventRecorder(bus, TaskFailed)
    plan = Plan(
        tasks=(
            Task(id="bad", agent="a", max_attempts=3),
            Task(id="good", agent="a"),
            Task(id="child", agent="a", depends_on=("bad",)),
            Task(id="grandchild", agent="a", depends_on=("child", "good")),
        )
    )
    with Team([AlwaysFails.child_spec("a", bus)], bus=bus) as team:
        result = team.run(plan, timeout=10)
    assert not result.ok
    by_id = {t.task_id: t for t in result.tasks}
    assert (by_id["bad"].status, by_id["bad"].attempts) == (TaskStatus.FAILED, 3)
    assert by_id["bad"].error == "TaskError: the data is unusable"
    assert by_id["good"].status is TaskStatus.COMPLETED
    assert by_id["child"].status is TaskStatus.CANCELLED
    assert by_id["grandchild"].status is TaskStatus.CANCELLED
    assert by_id["child"].error == "cancelled: dependency 'bad' did not complete"
    assert [e.attempt for e in rec.of_type(TaskFailed)] == [1, 2, 3]


class NonJson(Agent):
    def handle(self, task: TaskContext) -> object:
        return object()


def test_a_non_json_result_fails_the_task_without_retry(bus: EventBus) -> None:
    with Team([NonJson.child_spec("a", bus)], bus=bus) as team:
        result = team.run(Plan(tasks=(Task(id="t", agent="a"),)), timeout=10)
    [t] = result.tasks
    assert (t.status, t.attempts) == (TaskStatus.FAILED, 1)
    assert t.error.startswith("TaskError: Agent 'a' returned a object that cannot travel as JSON")


class NonFinite(Agent):
    def handle(self, task: TaskContext) -> object:
        value = {"nan": math.nan, "inf": math.inf}[task.description]
        if task.task_id == "model":
            return Score(value=value)
        return {"score": [1.5, value]}


class Score(BaseModel):
    value: float


@pytest.mark.parametrize("kind", ["nan", "inf"])
def test_a_result_holding_a_non_finite_number_fails_the_task_instead_of_changing(
    kind: str, tmp_path: Path
) -> None:
    log = SQLiteEventLog(tmp_path / "log.db")
    bus = EventBus(tracing=False, event_log=log)
    try:
        with Team([NonFinite.child_spec("a", bus)], bus=bus) as team:
            plan = Plan(
                tasks=(
                    Task(id="dict", agent="a", description=kind),
                    Task(id="model", agent="a", description=kind),
                )
            )
            result = team.submit(plan, workflow_id="wf").get(timeout=10)
        for t in result.tasks:
            assert (t.status, t.attempts, t.result) == (TaskStatus.FAILED, 1, None)
            assert "finite number" in t.error
        finished = [e for e in log.events("wf") if isinstance(e, TaskFinished)]
        assert [e.status for e in finished] == ["failed", "failed"]
    finally:
        bus.stop()
        log.close()


class Router(Agent):
    def handle(self, task: TaskContext) -> object:
        if self.name == "triage":
            return HandoffTo(
                agent=str(task.description), reason="specialist needed", context={"note": "n"}
            )
        return {"by": self.name, "context": task.context}


def test_declared_handoff_moves_the_task_and_undeclared_one_fails_it(bus: EventBus) -> None:
    specs = [Router.child_spec(n, bus) for n in ("triage", "legal", "hr")]
    plan = Plan(
        tasks=(
            Task(id="ok", agent="triage", description="legal"),
            Task(id="no", agent="triage", description="hr"),
        )
    )
    with Team(specs, bus=bus, handoffs={"triage": ["legal"]}) as team:
        result = team.run(plan, timeout=10)
    ok, no = result.tasks
    assert ok.status is TaskStatus.COMPLETED and ok.agent == "legal" and ok.attempts == 1
    assert ok.result == {
        "by": "legal",
        "context": {"note": "n", "handoff_reason": "specialist needed", "handoff_from": "triage"},
    }
    assert no.status is TaskStatus.FAILED
    assert no.error == (
        "HandoffError: agent 'triage' handed task 'no' to 'hr', which is not a declared "
        "handoff; declare it in handoffs."
    )


def test_invalid_plans_are_rejected_at_submit(bus: EventBus) -> None:
    with dd_team(bus) as team:
        with pytest.raises(PlanValidationError, match=r"^Task 'x' names unknown agent 'ghost'"):
            team.submit(Plan(tasks=(Task(id="x", agent="ghost"),)))
        cyclic = Plan(
            tasks=(
                Task(id="a", agent="hr", depends_on=("b",)),
                Task(id="b", agent="hr", depends_on=("a",)),
            )
        )
        with pytest.raises(PlanValidationError, match=r"^Task 'a' is on a dependency cycle"):
            team.submit(cyclic)


class Blocker(Agent):
    gate = threading.Event()

    def handle(self, task: TaskContext) -> object:
        Blocker.gate.wait(10)
        return None


def test_stopping_the_team_fails_unfinished_workflows_instead_of_hanging(bus: EventBus) -> None:
    Blocker.gate = threading.Event()
    team = Team([Blocker.child_spec("a", bus)], bus=bus)
    future = team.submit(Plan(tasks=(Task(id="t", agent="a"),)))
    orchestrator = bus.lookup("orchestrator")
    assert orchestrator is not None
    orchestrator.stop(block=False)
    with pytest.raises(
        WorkflowError,
        match=r"^Orchestrator 'orchestrator' stopped before workflow '\w+' finished\.$",
    ):
        future.get(timeout=10)
    Blocker.gate.set()
    team.stop()
