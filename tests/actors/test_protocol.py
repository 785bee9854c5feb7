"""check_protocol catches each broken invariant in a hand-made stream, naming the task."""

from __future__ import annotations

import re
import threading

import pytest

from actors import Agent, Plan, Task, TaskContext, Team
from actors.testing import EventRecorder, ProtocolViolation, check_protocol
from bus import (
    ApprovalDecided,
    Delegated,
    Event,
    EventBus,
    EventRejected,
    FailureKind,
    Handoff,
    TaskCompleted,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    WorkflowFinished,
    WorkflowStarted,
)

PLAN = Plan(
    tasks=(
        Task(id="a", agent="x", max_attempts=2),
        Task(id="b", agent="y", depends_on=("a",)),
    )
)
W = "w1"


def started() -> WorkflowStarted:
    return WorkflowStarted(workflow_id=W, plan=PLAN.model_dump(mode="json"), agents=["x", "y"])


def start(task: str, agent: str, attempt: int = 1) -> TaskStarted:
    return TaskStarted(workflow_id=W, task_id=task, agent=agent, attempt=attempt)


def done(task: str, agent: str, attempt: int = 1) -> TaskCompleted:
    return TaskCompleted(workflow_id=W, task_id=task, agent=agent, attempt=attempt)


def finished(task: str, status: str = "completed", attempts: int = 1) -> TaskFinished:
    return TaskFinished(workflow_id=W, task_id=task, status=status, attempts=attempts)


def end() -> WorkflowFinished:
    return WorkflowFinished(workflow_id=W, status="completed", duration=0.1)


GOOD: list[Event] = [
    started(),
    start("a", "x"),
    TaskCompleted(workflow_id=W, task_id="a", agent="x", attempt=1),
    finished("a"),
    start("b", "y"),
    done("b", "y"),
    finished("b"),
    end(),
]


def test_a_correct_run_passes() -> None:
    check_protocol(GOOD)


@pytest.mark.parametrize(
    ("events", "task", "message"),
    [
        (
            [*GOOD[:4], start("b", "y"), done("b", "y"), finished("b"), finished("b", "failed")],
            "b",
            "Task 'b' of workflow 'w1' ended twice: completed, then failed.",
        ),
        (
            [*GOOD[:4], start("b", "y"), end()],
            "b",
            "Workflow 'w1' finished while task 'b' had not ended (a task was lost).",
        ),
        (
            [started(), start("a", "x"), start("b", "y")],
            "b",
            "Task 'b' of workflow 'w1' started before its dependency 'a' completed.",
        ),
        (
            [started(), start("a", "x"), finished("a", "failed"), start("b", "y")],
            "b",
            "Task 'b' of workflow 'w1' started before its dependency 'a' completed.",
        ),
        (
            [started(), start("a", "x"), start("a", "x", 2), start("a", "x", 3)],
            "a",
            "Task 'a' of workflow 'w1' started attempt 3, more than its max_attempts of 2.",
        ),
        (
            [started(), start("a", "intruder")],
            "a",
            "Task 'a' of workflow 'w1' was sent to undeclared agent 'intruder'.",
        ),
        (
            [started(), start("a", "x"), finished("a")],
            "a",
            "Task 'a' of workflow 'w1' finished as completed without a TaskCompleted "
            "carrying the token of its attempt 1.",
        ),
        (
            [*GOOD[:4], start("a", "x", 2)],
            "a",
            "Task 'a' of workflow 'w1' started attempt 2 after it finished.",
        ),
        (
            [started(), start("zz", "x")],
            "zz",
            "Workflow 'w1' has no task 'zz', yet a task.started names it.",
        ),
    ],
    ids=[
        "ended-twice",
        "lost",
        "early-start",
        "start-after-failed-dependency",
        "too-many-attempts",
        "undeclared-agent",
        "completed-without-result",
        "start-after-end",
        "unknown-task",
    ],
)
def test_each_violation_is_caught_and_named(events: list[Event], task: str, message: str) -> None:
    with pytest.raises(ProtocolViolation, match=f"^{re.escape(message)}$") as caught:
        check_protocol(events)
    assert (caught.value.workflow_id, caught.value.task_id) == ("w1", task)


class _Echo(Agent):
    def handle(self, task: TaskContext) -> object:
        return task.task_id


def test_a_recording_keeps_an_outcome_before_what_it_caused(bus: EventBus) -> None:
    # The agent's thread publishes TaskCompleted; the orchestrator's publishes the
    # TaskFinished it causes. A slow observer holds the agent's thread inside publish:
    # had the orchestrator been told first, it would finish the task before the
    # recorder saw the outcome, and a correct run would look like a violation.
    finished_seen = threading.Event()

    def slow_observer(event: TaskCompleted) -> None:
        finished_seen.wait(1.0)

    with Team([_Echo.child_spec("x", bus)], bus=bus) as team:
        bus.subscribe(TaskCompleted, slow_observer)
        recorder = EventRecorder(bus)
        bus.subscribe(TaskFinished, lambda _event: finished_seen.set())
        result = team.run(Plan(tasks=(Task(id="a", agent="x"),)), timeout=10)
    assert result.ok
    check_protocol(recorder.events)
    kinds = [type(e) for e in recorder.events if e.task_id == "a"]
    assert kinds.index(TaskCompleted) < kinds.index(TaskFinished)


# Identity: outcomes count only with the token of the dispatch they answer.


def _tokened(start_event: TaskStarted, **changes: object) -> TaskStarted:
    return start_event.model_copy(update={"attempt_token": "tok-1", **changes})


def test_outcomes_count_only_with_their_attempts_token() -> None:
    first = _tokened(start("a", "x"))
    handed = first.model_copy(
        update={"agent": "y", "handoff_depth": 1, "attempt_token": "tok-2", "id": "s2"}
    )
    good = [
        started(),
        first,
        Handoff(workflow_id=W, task_id="a", from_agent="x", to_agent="y", attempt_token="tok-1"),
        handed,
        TaskCompleted(workflow_id=W, task_id="a", agent="y", attempt_token="tok-2"),
        finished("a"),
    ]
    check_protocol(good)
    forged_done = TaskCompleted(workflow_id=W, task_id="a", agent="y", attempt_token="tok-1")
    forged_handoff = Handoff(
        workflow_id=W, task_id="a", from_agent="x", to_agent="y", attempt_token="guess"
    )
    failed = TaskFinished(
        workflow_id=W, task_id="a", status="failed", attempts=1, error_kind=FailureKind.ERROR
    )
    cases = [
        (
            [*good[:4], forged_done, finished("a")],
            "Task 'a' of workflow 'w1' finished as completed without a TaskCompleted carrying "
            "the token of its attempt 1.",
        ),
        (
            [started(), first, forged_handoff, handed],
            "Task 'a' of workflow 'w1' was handed to 'y' without a Handoff carrying the token "
            "of its attempt 1.",
        ),
        (
            [
                started(),
                first,
                TaskFailed(workflow_id=W, task_id="a", error_type="E", attempt_token="nope"),
                failed,
            ],
            "Task 'a' of workflow 'w1' finished as failed without a TaskFailed or Delegated "
            "carrying the token of its attempt 1.",
        ),
        (
            [
                *good[:5],
                EventRejected(
                    workflow_id=W, task_id="a", causation_id=good[4].id, reason="forged outcome"
                ),
            ],
            "Task 'a' of workflow 'w1': a task.completed carrying the token of its attempt 1 "
            "was rejected.",
        ),
    ]
    for events, message in cases:
        with pytest.raises(ProtocolViolation, match=f"^{re.escape(message)}$") as caught:
            check_protocol(events)
        assert (caught.value.workflow_id, caught.value.task_id) == ("w1", "a")


def test_only_the_orchestrators_decisions_approve() -> None:
    gated = Plan(tasks=(Task(id="pay", agent="x", needs_approval=True),))
    begin = WorkflowStarted(
        workflow_id=W, plan=gated.model_dump(mode="json"), agents=["x"], source="orchestrator"
    )
    decided = {"workflow_id": W, "task_id": "pay", "approved": True}
    pay = start("pay", "x")
    check_protocol([begin, ApprovalDecided(**decided, source="orchestrator"), pay])
    with pytest.raises(
        ProtocolViolation,
        match=r"^Task 'pay' of workflow 'w1' started without the approval it needs\.$",
    ):
        check_protocol([begin, ApprovalDecided(**decided, source="mallory"), pay])


# -- delegation: child workflows (rule 9) -------------------------------------------------

CHILD = "w1/a.1"


def delegation(child_status: str = "completed") -> list[Event]:
    """Task ``a`` delegates to child workflow ``w1/a.1`` (one task ``c``), which ends."""
    child_plan = Plan(tasks=(Task(id="c", agent="x"),)).model_dump(mode="json")
    ok = child_status == "completed"
    return [
        started(),
        TaskStarted(workflow_id=W, task_id="a", agent="x", attempt_token="ta"),
        Delegated(workflow_id=W, task_id="a", agent="x", plan=child_plan, attempt_token="ta"),
        WorkflowStarted(
            workflow_id=CHILD, plan=child_plan, parent_workflow_id=W, parent_task_id="a"
        ),
        TaskStarted(workflow_id=CHILD, task_id="c", agent="x", attempt_token="tc"),
        TaskCompleted(workflow_id=CHILD, task_id="c", agent="x", attempt_token="tc")
        if ok
        else TaskFailed(
            workflow_id=CHILD, task_id="c", agent="x", error_type="E", attempt_token="tc"
        ),
        TaskFinished(
            workflow_id=CHILD,
            task_id="c",
            status=child_status,
            attempts=1,
            error_kind=None if ok else FailureKind.ERROR,
        ),
        WorkflowFinished(workflow_id=CHILD, status=child_status, duration=0.1),
        finished("a"),
    ]


def test_a_task_may_complete_through_its_child_workflow() -> None:
    check_protocol([*delegation(), start("b", "y"), done("b", "y"), finished("b"), end()])


@pytest.mark.parametrize(
    ("events", "task", "message"),
    [
        (
            [e for e in delegation() if not isinstance(e, Delegated)],
            "a",
            "Child workflow 'w1/a.1' of task 'a' of workflow 'w1' started without a Delegated "
            "carrying the token of the task's running attempt.",
        ),
        (
            [*delegation()[:6], finished("a"), *delegation()[6:8]],
            "a",
            "Task 'a' of workflow 'w1' finished as completed while a child workflow it "
            "delegated to had not finished.",
        ),
        (
            delegation("failed"),
            "a",
            "Task 'a' of workflow 'w1' finished as completed through a Delegated whose child "
            "workflow did not complete.",
        ),
        (
            [*delegation(), start("b", "y"), done("b", "y"), finished("b"), end(), start("b", "y")],
            "b",
            "Task 'b' of workflow 'w1' started attempt 1 after its workflow finished.",
        ),
    ],
)
def test_each_delegation_violation_is_caught_and_named(
    events: list[Event], task: str, message: str
) -> None:
    with pytest.raises(ProtocolViolation, match=f"^{re.escape(message)}$") as info:
        check_protocol(events)
    assert (info.value.workflow_id, info.value.task_id) == (W, task)
