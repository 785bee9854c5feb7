"""Hierarchical delegation: an agent returns Delegate(plan) and its task runs the sub-plan as
a child workflow; cancel, timeouts, limits and resume reach the children."""

from __future__ import annotations

import contextlib
import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pykka
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actors import (
    Agent,
    Budget,
    BudgetExceeded,
    ConfigurationError,
    Delegate,
    Limits,
    Plan,
    RetryPolicy,
    Supervisor,
    Task,
    TaskContext,
    TaskError,
    TaskStatus,
    Team,
    WorkflowError,
    WorkflowResult,
)
from actors.testing import EventRecorder, check_protocol
from bus import (
    Delegated,
    Event,
    EventBus,
    EventRejected,
    FailureKind,
    TaskFinished,
    TokenUsage,
    WorkflowFinished,
    WorkflowResumed,
    WorkflowStarted,
)
from bus.lowlevel import Envelope
from memory import InMemoryEventLog, SQLiteEventLog
from tests.helpers import wait_until

NO_RETRY_WAIT = RetryPolicy(backoff=None)


def parts(*names: str, agent: str = "worker") -> Plan:
    return Plan(tasks=tuple(Task(id=n, agent=agent, description=n) for n in names))


class Coordinator(Agent):
    """Splits its task into three parts for the workers, then joins their answers."""

    def handle(self, task: TaskContext) -> object:
        if task.task_id == "join":
            return " + ".join(str(task.inputs[k]) for k in sorted(task.inputs))
        work = parts("part1", "part2", "part3").tasks
        join = Task(id="join", agent="coordinator", depends_on=tuple(t.id for t in work))
        return Delegate(Plan(tasks=(*work, join)), reason="three parts")


class Worker(Agent):
    """Answers its part in capitals; part2 is big: it delegates two halves again."""

    def handle(self, task: TaskContext) -> object:
        if task.description == "part2":
            return Delegate(parts("part2a", "part2b"))
        task.add_usage(TokenUsage(input_tokens=10, output_tokens=5), model="m")
        return task.description.upper()


def team_of(bus: EventBus, *agents: tuple[str, type[Agent]], **options: object) -> Team:
    """A team of these agents; one named ``waiter`` is a pool of three (capability)."""
    specs = [cls.child_spec(name, bus) for name, cls in agents if name != "waiter"]
    specs += [
        cls.child_spec(f"{name}{i}", bus, capabilities=[name])
        for name, cls in agents
        if name == "waiter"
        for i in (1, 2, 3)
    ]
    return Team(specs, bus=bus, **options)  # type: ignore[arg-type]


def ends_per_workflow(events: list[Event]) -> dict[str, Counter[str]]:
    """How often each task of each workflow ended (every started workflow listed)."""
    ends: dict[str, Counter[str]] = {
        e.workflow_id: Counter() for e in events if isinstance(e, WorkflowStarted)
    }
    for e in events:
        if isinstance(e, TaskFinished):
            ends[e.workflow_id][e.task_id] += 1
    return ends


def assert_every_task_ended_once(events: list[Event]) -> None:
    """Each task of each workflow, nested ones included, ended exactly once; each ended."""
    check_protocol(events)
    plans = {
        e.workflow_id: {t.id for t in Plan.model_validate(e.plan).tasks}
        for e in events
        if isinstance(e, WorkflowStarted)
    }
    for wf, ends in ends_per_workflow(events).items():
        assert set(ends) == plans[wf], wf
        assert set(ends.values()) == {1}, wf
    finished = {e.workflow_id for e in events if isinstance(e, WorkflowFinished)}
    assert finished == set(plans)


def test_a_coordinator_delegates_to_three_workers_one_of_which_delegates_again(
    traced_bus: EventBus, spans: InMemorySpanExporter
) -> None:
    rec = EventRecorder(traced_bus)
    agents = ("coordinator", Coordinator), ("worker", Worker)
    with team_of(traced_bus, *agents) as team:
        result = team.run(Plan(tasks=(Task(id="report", agent="coordinator"),)), timeout=10)
    assert result.ok
    assert result.answer == "PART1 + {'part2a': 'PART2A', 'part2b': 'PART2B'} + PART3"
    # The result is a tree: the report's child workflow, and part2's within it.
    [report] = result.tasks
    assert report.workflow is not None
    assert report.workflow.workflow_id == f"{result.workflow_id}/report.1"
    level1 = {t.task_id: t for t in report.workflow.tasks}
    assert list(level1) == ["part1", "part2", "part3", "join"]
    part2 = level1["part2"].workflow
    assert part2 is not None
    assert [t.result for t in part2.tasks] == ["PART2A", "PART2B"]
    assert level1["part1"].workflow is None
    # Tokens spent in children count once: in the delegating task, up to the root.
    assert level1["part2"].usage.total_tokens == 30
    assert report.usage.total_tokens == result.usage.total_tokens == 60
    assert result.usage_by_model == {"m": TokenUsage(input_tokens=40, output_tokens=20)}
    lines = result.table().splitlines()
    assert [line.split()[0] for line in lines[1:-1]] == [
        "report", "part1", "part2", "part2a", "part2b", "part3", "join",
    ]  # fmt: skip
    assert re.match(r"^    part2a +worker +completed +1 ", lines[4])
    assert lines[-1].split()[:2] == ["total", "60"]
    assert_every_task_ended_once(rec.events)
    # One trace; each child's invoke_workflow span descends from its parent's.
    finished = spans.get_finished_spans()
    assert len({s.context.trace_id for s in finished}) == 1
    by_id = {s.context.span_id: s for s in finished}
    workflows = {s.name: s for s in finished if s.name.startswith("invoke_workflow")}
    assert set(workflows) == {
        "invoke_workflow workflow",
        "invoke_workflow report",
        "invoke_workflow part2",
    }

    def ancestors(span_id: int) -> list[str]:
        names = []
        while span_id in by_id:
            parent = by_id[span_id].parent
            if parent is None:
                break
            span_id = parent.span_id
            names.append(by_id[span_id].name if span_id in by_id else "?")
        return names

    part2_up = ancestors(workflows["invoke_workflow part2"].context.span_id)
    assert "process task.delegated" in part2_up
    assert part2_up.index("invoke_workflow report") < part2_up.index("invoke_workflow workflow")


class Waiter(Agent):
    """Waits until its attempt is cancelled (a long job); ``started`` counts attempts."""

    started: ClassVar[list[str]] = []

    def handle(self, task: TaskContext) -> object:
        Waiter.started.append(f"{task.workflow_id}:{task.task_id}")
        task.cancellation.wait(10)
        task.cancellation.raise_if_cancelled()
        return "too late"


class Lead(Agent):
    """Delegates its task to the waiters; a task named ``deep`` delegates once more."""

    def handle(self, task: TaskContext) -> object:
        if task.task_id == "deep":
            return Delegate(parts("w3", agent="waiter"))
        return Delegate(
            Plan(
                tasks=(
                    Task(id="w1", agent="waiter"),
                    Task(id="w2", agent="waiter"),
                    Task(id="deep", agent="lead"),
                    Task(id="after", agent="waiter", depends_on=("w1",)),
                )
            )
        )


@pytest.fixture
def waiter() -> type[Waiter]:
    Waiter.started = []
    return Waiter


def waiting(bus: EventBus, waiter: type[Waiter]) -> tuple[Team, pykka.Future[WorkflowResult]]:
    """A team running workflow ``wf`` (task ``top`` of ``Lead``) once all three waiters
    wait: two in its child workflow, one in its grandchild."""
    team = team_of(bus, ("lead", Lead), ("waiter", waiter), limits=Limits(max_in_flight=None))
    future = team.submit(Plan(tasks=(Task(id="top", agent="lead"),)), workflow_id="wf")
    assert wait_until(lambda: len(waiter.started) == 3)
    return team, future


def test_cancelling_the_parent_ends_every_child(bus: EventBus, waiter: type[Waiter]) -> None:
    rec = EventRecorder(bus)
    team, future = waiting(bus, waiter)
    with team:
        team.cancel("wf", "the user left")
        result = future.get(timeout=5)
    assert result.status is TaskStatus.CANCELLED
    [top] = result.tasks
    assert (top.status, top.error) == (TaskStatus.CANCELLED, "cancelled: the user left")
    assert top.workflow is not None
    child = {t.task_id: t for t in top.workflow.tasks}
    assert {t.status for t in child.values()} == {TaskStatus.CANCELLED}
    assert child["w1"].error == "cancelled: its parent task 'top' ended (cancelled: the user left)"
    deep = child["deep"].workflow
    assert deep is not None
    assert deep.workflow_id == "wf/top.1/deep.1"
    assert [(t.task_id, t.status) for t in deep.tasks] == [("w3", TaskStatus.CANCELLED)]
    assert_every_task_ended_once(rec.events)
    statuses = {e.workflow_id: e.status for e in rec.of_type(WorkflowFinished)}
    assert statuses == dict.fromkeys(["wf", "wf/top.1", "wf/top.1/deep.1"], "cancelled")


def test_stopping_the_team_ends_every_child(bus: EventBus, waiter: type[Waiter]) -> None:
    rec = EventRecorder(bus)
    team, future = waiting(bus, waiter)
    team.stop()
    assert future.get(timeout=5).status is TaskStatus.CANCELLED
    assert_every_task_ended_once(rec.events)


def test_cancelling_a_child_on_its_own_fails_its_task_without_a_retry(
    bus: EventBus, waiter: type[Waiter]
) -> None:
    rec = EventRecorder(bus)
    team, future = waiting(bus, waiter)
    with team:
        team.cancel("wf/top.1", "not needed")
        result = future.get(timeout=5)
    [top] = result.tasks
    assert (top.status, top.error_kind, top.attempts) == (
        TaskStatus.FAILED,
        FailureKind.CANCELLED,
        1,
    )
    assert top.error == "DelegationError: child workflow 'wf/top.1' was cancelled (not needed)."
    assert_every_task_ended_once(rec.events)


def test_a_timeout_on_the_delegating_task_cancels_its_child(
    bus: EventBus, waiter: type[Waiter]
) -> None:
    rec = EventRecorder(bus)
    plan = Plan(tasks=(Task(id="top", agent="lead", timeout=0.3, max_attempts=2),))
    agents = ("lead", Lead), ("waiter", waiter)
    with team_of(bus, *agents, retry=NO_RETRY_WAIT) as team:
        result = team.run(plan, workflow_id="wf", timeout=10)
    [top] = result.tasks
    assert (top.status, top.error_kind, top.attempts) == (TaskStatus.FAILED, "timeout", 2)
    assert top.error == "timeout: attempt 2 gave no outcome within 0.3 s"
    # Each attempt delegated to a child of its own; each child was cancelled.
    children = {e.workflow_id: e.status for e in rec.of_type(WorkflowFinished)}
    assert children == {
        "wf/top.1/deep.1": "cancelled",
        "wf/top.1": "cancelled",
        "wf/top.2/deep.1": "cancelled",
        "wf/top.2": "cancelled",
        "wf": "failed",
    }
    assert top.workflow is not None
    assert top.workflow.workflow_id == "wf/top.2"
    assert_every_task_ended_once(rec.events)


ONCE = Plan(tasks=(Task(id="again", agent="recursive", max_attempts=1),))


class Recursive(Agent):
    """Delegates its task to itself, for ever (the depth bound stops it)."""

    def handle(self, task: TaskContext) -> object:
        return Delegate(ONCE)


def test_the_nesting_depth_is_bounded(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    with team_of(bus, ("recursive", Recursive), limits=Limits(max_delegation_depth=2)) as team:
        plan = Plan(tasks=(Task(id="t", agent="recursive", max_attempts=1),))
        result = team.run(plan, workflow_id="wf", timeout=10)
    assert result.status is TaskStatus.FAILED
    ids = [e.workflow_id for e in rec.of_type(WorkflowStarted)]
    assert ids == ["wf", "wf/t.1", "wf/t.1/again.1"]
    deepest = result.tasks[0].workflow.tasks[0].workflow.tasks[0]  # type: ignore[union-attr]
    assert (deepest.status, deepest.error_kind, deepest.attempts) == (
        TaskStatus.FAILED,
        FailureKind.ERROR,
        1,
    )
    assert deepest.error == (
        "DelegationError: task 'again' of workflow 'wf/t.1/again.1' delegated a sub-plan at "
        "nesting depth 3, past the limit of 2 (Limits.max_delegation_depth); do the work in "
        "the task, or raise the limit."
    )
    # Each level above fails with its child's cause.
    assert result.tasks[0].error == (
        "DelegationError: child workflow 'wf/t.1' failed: task 'again' DelegationError: child "
        f"workflow 'wf/t.1/again.1' failed: task 'again' {deepest.error[:-1]}."
    )
    assert_every_task_ended_once(rec.events)


def test_a_depth_limit_of_zero_turns_delegation_off_and_a_negative_one_is_refused(
    bus: EventBus,
) -> None:
    with team_of(bus, ("recursive", Recursive), limits=Limits(max_delegation_depth=0)) as team:
        result = team.run(ONCE, workflow_id="wf", timeout=10)
    assert result.tasks[0].error.startswith(
        "DelegationError: task 'again' of workflow 'wf' delegated a sub-plan at nesting depth 1,"
    )
    message = (
        "Limits(max_delegation_depth=-1) is invalid; timeouts must be > 0 seconds or None, "
        "max_steps and max_in_flight >= 1 or None, max_copies >= 1, max_handoffs and "
        "max_delegation_depth >= 0."
    )
    with pytest.raises(ConfigurationError, match=f"^{re.escape(message)}$"):
        Limits(max_delegation_depth=-1)


class BadPlanner(Agent):
    """Delegates a sub-plan naming an agent the team does not have."""

    def handle(self, task: TaskContext) -> object:
        return Delegate(parts("x", agent="ghost"))


def test_an_invalid_sub_plan_fails_the_task_with_the_validation_message(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    with team_of(bus, ("planner", BadPlanner)) as team:
        result = team.run(parts("t", agent="planner"), timeout=10)
    [t] = result.tasks
    assert (t.status, t.error_kind, t.attempts, t.workflow) == (
        TaskStatus.FAILED,
        FailureKind.ERROR,
        1,
        None,
    )
    assert t.error == (
        "PlanValidationError: Task 'x' names unknown agent 'ghost'; declared agents are "
        "['planner']."
    )
    assert rec.of_type(WorkflowStarted)[1:] == []  # no child started
    check_protocol(rec.events)


class SoloLead(Agent):
    """Delegates its task to a plan that needs this same agent twice more."""

    def handle(self, task: TaskContext) -> object:
        if task.task_id in ("a", "b"):
            return f"{task.task_id} done"
        chain = (Task(id="a", agent="solo"), Task(id="b", agent="solo", depends_on=("a",)))
        return Delegate(Plan(tasks=chain))


def test_a_sub_plan_naming_the_delegating_agent_completes(bus: EventBus) -> None:
    # One agent, one attempt at a time: its thread must be free for its own sub-plan.
    with team_of(bus, ("solo", SoloLead), limits=Limits(max_in_flight=1)) as team:
        result = team.run(parts("t", agent="solo"), timeout=10)
    assert result.ok
    assert result.answer == "b done"


class Flaky(Agent):
    """Fails the first child's task ``x`` for good; later ones complete."""

    runs: ClassVar[list[str]] = []

    def handle(self, task: TaskContext) -> object:
        Flaky.runs.append(f"{task.workflow_id}:{task.task_id}")
        if task.task_id == "t":
            return Delegate(parts("x", "y", agent="flaky"))
        if task.workflow_id == "wf/t.1" and task.task_id == "x":
            msg = "x is broken"
            raise TaskError(msg)
        return task.task_id


def test_a_failed_child_fails_the_task_with_its_cause_and_a_retry_delegates_again(
    bus: EventBus,
) -> None:
    Flaky.runs = []
    rec = EventRecorder(bus)
    plan = Plan(tasks=(Task(id="t", agent="flaky", max_attempts=2),))
    with team_of(bus, ("flaky", Flaky), retry=NO_RETRY_WAIT) as team:
        result = team.run(plan, workflow_id="wf", timeout=10)
    assert result.ok
    assert result.answer == {"x": "x", "y": "y"}
    assert result.tasks[0].attempts == 2
    failed = [e for e in rec.of_type(WorkflowFinished) if e.workflow_id == "wf/t.1"]
    assert [e.status for e in failed] == ["failed"]
    assert result.tasks[0].workflow.workflow_id == "wf/t.2"  # type: ignore[union-attr]
    assert_every_task_ended_once(rec.events)


def test_a_failed_child_fails_the_task_naming_the_failed_child_tasks(bus: EventBus) -> None:
    Flaky.runs = []
    plan = Plan(tasks=(Task(id="t", agent="flaky", max_attempts=1),))
    with team_of(bus, ("flaky", Flaky)) as team:
        result = team.run(plan, workflow_id="wf", timeout=10)
    [t] = result.tasks
    assert (t.status, t.error_kind) == (TaskStatus.FAILED, FailureKind.ERROR)
    assert t.error == (
        "DelegationError: child workflow 'wf/t.1' failed: task 'x' TaskError: x is broken."
    )


class Spender(Agent):
    """Spends 100 tokens per task; delegates task ``t`` to three tasks of its own."""

    def handle(self, task: TaskContext) -> object:
        task.add_usage(TokenUsage(input_tokens=100), model="m")
        if task.task_id == "t":
            return Delegate(parts("a", "b", "c", agent="spender"))
        return task.task_id


def test_children_spend_from_the_root_budget_and_count_once(bus: EventBus) -> None:
    with team_of(bus, ("spender", Spender)) as team:
        result = team.run(parts("t", agent="spender"), timeout=10)
    assert result.usage.input_tokens == 400  # the delegating attempt, then three tasks
    assert result.tasks[0].usage.input_tokens == 400
    limits = Limits(budget=Budget(tokens=250), max_in_flight=1)
    with (
        team_of(bus, ("spender", Spender), limits=limits) as team,
        pytest.raises(BudgetExceeded) as info,
    ):
        team.run(parts("t", agent="spender"), workflow_id="wf", timeout=10)
    assert info.value.reason == "spent 300 tokens, over its budget of 250 tokens"
    stopped = info.value.result
    assert stopped.status is TaskStatus.CANCELLED
    child = stopped.tasks[0].workflow
    assert child is not None
    assert [t.status for t in child.tasks] == [
        TaskStatus.COMPLETED,
        TaskStatus.COMPLETED,
        TaskStatus.CANCELLED,
    ]


def test_max_steps_counts_the_childrens_steps(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    limits = Limits(max_steps=3, max_in_flight=1)
    with team_of(bus, ("spender", Spender), limits=limits) as team:
        result = team.run(parts("t", agent="spender"), workflow_id="wf", timeout=10)
    assert result.status is TaskStatus.CANCELLED
    child = result.tasks[0].workflow
    assert child is not None
    assert [t.status.value for t in child.tasks] == ["completed", "completed", "cancelled"]
    assert child.tasks[2].error == (
        "cancelled: its parent task 't' ended (cancelled: the workflow reached its limit of 3 "
        "steps)"
    )
    assert_every_task_ended_once(rec.events)


def test_a_forged_delegation_is_rejected(bus: EventBus, waiter: type[Waiter]) -> None:
    rejected = EventRecorder(bus, EventRejected)
    with team_of(bus, ("waiter", waiter)) as team:
        future = team.submit(parts("t", agent="waiter"), workflow_id="wf")
        assert wait_until(lambda: len(waiter.started) == 1)
        bus.publish(
            Delegated(
                workflow_id="wf",
                task_id="t",
                agent="waiter",
                plan=parts("x", agent="waiter").model_dump(mode="json"),
                attempt_token="guessed",
            )
        )
        assert rejected.wait_for(lambda events: len(events) == 1)
        team.cancel("wf")
        assert future.get(timeout=5).tasks[0].workflow is None
    assert rejected.events[0].rejected_type == "task.delegated"  # type: ignore[attr-defined]


# -- resume ----------------------------------------------------------------------------


class Holding(Agent):
    """Counts runs; a task ``b`` waits for ``release`` (the work a process dies in)."""

    runs: ClassVar[list[str]] = []
    release: ClassVar[threading.Event] = threading.Event()

    @classmethod
    def reset(cls) -> None:
        cls.runs, cls.release = [], threading.Event()

    def handle(self, task: TaskContext) -> object:
        type(self).runs.append(task.task_id)
        if task.task_id == "b" and not type(self).release.wait(10):
            raise RuntimeError("never released")
        return self.work(task)

    def work(self, task: TaskContext) -> object:
        return task.task_id + "".join(str(v) for v in task.inputs.values())


class Held(Holding):
    """``t`` delegates the chain a -> b -> c."""

    def work(self, task: TaskContext) -> object:
        if task.task_id == "t":
            chain = (
                Task(id="a", agent="held"),
                Task(id="b", agent="held", depends_on=("a",)),
                Task(id="c", agent="held", depends_on=("b",)),
            )
            return Delegate(Plan(tasks=chain))
        return super().work(task)


class Nested(Holding):
    """``t`` delegates ``x`` and ``deep``; ``deep`` delegates ``b``."""

    def work(self, task: TaskContext) -> object:
        if task.task_id == "t":
            return Delegate(parts("x", "deep", agent="nested"))
        if task.task_id == "deep":
            return Delegate(parts("b", agent="nested"))
        return task.task_id


@contextlib.contextmanager
def logged_team(path: Path, agent: type[Holding]) -> Iterator[tuple[Team, EventRecorder]]:
    """A team of ``agent`` (named after its class) on a bus logging to ``path``, and a
    recording of its events; ``agent`` is released before the team stops."""
    log = SQLiteEventLog(path)
    bus = EventBus(event_log=log, tracing=False)
    recorder = EventRecorder(bus)
    team = Team([agent.child_spec(agent.__name__.lower(), bus)], bus=bus)
    try:
        yield team, recorder
    finally:
        agent.release.set()
        team.stop()
        bus.stop()
        log.close()


def die_midway(path: Path, agent: type[Holding], plan: Plan) -> list[Event]:
    """Run ``plan`` as ``wf`` until ``b`` runs; then the orchestrator goes away, as if its
    process died. The events recorded; ``agent``'s runs are reset for the resume."""
    agent.reset()
    with logged_team(path, agent) as (team, recorder):
        future = team.submit(plan, workflow_id="wf")
        assert wait_until(lambda: "b" in agent.runs)
        Supervisor.terminate_child(team.supervisor, "orchestrator")
        with pytest.raises(WorkflowError, match="stopped before workflow 'wf' finished"):
            future.get(timeout=5)
    agent.runs = []
    return recorder.events


def test_resume_after_a_restart_resumes_the_running_child(tmp_path: Path) -> None:
    plan = Plan(tasks=(Task(id="t", agent="held"), Task(id="u", agent="held", depends_on=("t",))))
    first = die_midway(tmp_path / "log.db", Held, plan)
    with logged_team(tmp_path / "log.db", Held) as (team, second):
        with pytest.raises(WorkflowError, match=r"^Workflow 'wf/t\.1' is a child workflow of"):
            team.resume("wf/t.1").get(timeout=5)
        result = team.resume("wf").get(timeout=10)
    assert result.ok
    assert result.answer == "ucba"
    assert Held.runs == ["b", "c", "u"]  # neither "t" (it delegated) nor "a" again
    child = result.tasks[0].workflow
    assert child is not None
    assert [(t.task_id, t.result) for t in child.tasks] == [("a", "a"), ("b", "ba"), ("c", "cba")]
    assert_every_task_ended_once(first + second.events)


def test_resume_resumes_a_grandchild_running_when_the_process_died(tmp_path: Path) -> None:
    first = die_midway(tmp_path / "log.db", Nested, parts("t", agent="nested"))
    with logged_team(tmp_path / "log.db", Nested) as (team, second):
        result = team.resume("wf").get(timeout=10)
    assert result.ok
    assert result.answer == {"x": "x", "deep": "b"}
    assert Nested.runs == ["b"]  # only the attempt the process died in runs again
    deep = result.tasks[0].workflow.tasks[1].workflow  # type: ignore[union-attr]
    assert deep is not None
    assert deep.workflow_id == "wf/t.1/deep.1"
    resumed = [e.workflow_id for e in second.of_type(WorkflowResumed)]
    assert resumed == ["wf", "wf/t.1", "wf/t.1/deep.1"]
    assert_every_task_ended_once(first + second.events)


def test_a_resumed_workflow_whose_child_had_finished_completes_at_once(tmp_path: Path) -> None:
    Held.reset()
    Held.release.set()
    with logged_team(tmp_path / "log.db", Held) as (team, _):
        done: WorkflowResult = team.run(parts("t", agent="held"), workflow_id="wf", timeout=10)
        Held.runs = []
        again = team.resume("wf").get(timeout=10)
    assert Held.runs == []
    assert (
        (again.status, again.answer) == (done.status, done.answer) == (TaskStatus.COMPLETED, "cba")
    )


def test_resume_completes_a_task_whose_child_finished_just_before_the_process_died() -> None:
    Held.reset()
    Held.release.set()
    full = InMemoryEventLog()
    bus = EventBus(event_log=full, tracing=False)
    with Team([Held.child_spec("held", bus)], bus=bus) as team:
        plan = Plan(
            tasks=(Task(id="t", agent="held"), Task(id="u", agent="held", depends_on=("t",)))
        )
        done = team.run(plan, workflow_id="wf", timeout=10)
    bus.stop()
    # The log as it was when the child had finished and the process died: without the
    # parent's record of "t" (and all after it: "u" never started).
    cut = InMemoryEventLog()
    events = full.events("wf")
    lost = next(i for i, e in enumerate(events) if isinstance(e, TaskFinished) and e.task_id == "t")
    for event in [*events[:lost], *full.events("wf/t.1")]:
        cut.append(Envelope(event))
    Held.runs = []
    bus = EventBus(event_log=cut, tracing=False)
    with Team([Held.child_spec("held", bus)], bus=bus) as team:
        again = team.resume("wf").get(timeout=10)
    bus.stop()
    assert again.ok
    assert Held.runs == ["u"]  # not "t", nor its child's tasks
    assert again.answer == done.answer == "ucba"
    assert again.tasks[0].workflow is not None
    assert [t.result for t in again.tasks[0].workflow.tasks] == ["a", "ba", "cba"]
