"""check_protocol's rule 10 on hand-written streams: what a replicated task may and may not do."""

from __future__ import annotations

import re

import pytest

from actors import Plan, Redundancy, Task
from actors.testing import ProtocolViolation, check_protocol
from bus import (
    CancelRequested,
    Delegated,
    Event,
    TaskCompleted,
    TaskFinished,
    TaskStarted,
    WorkflowStarted,
)

W = "w1"


def stream(decide: str = "first") -> list[Event]:
    spec = Redundancy(copies=2, decide="vote" if decide == "vote" else "first")
    plan = Plan(tasks=(Task(id="t", agent="x", redundancy=spec),))
    return [
        WorkflowStarted(workflow_id=W, plan=plan.model_dump(mode="json"), agents=["a", "b", "x"]),
        start("a", 1),
        start("b", 2),
    ]


def start(agent: str, replica: int) -> TaskStarted:
    return TaskStarted(
        workflow_id=W, task_id="t", attempt=1, agent=agent, attempt_token=agent, replica=replica
    )


def done(agent: str, result: str = "r") -> TaskCompleted:
    return TaskCompleted(
        workflow_id=W, task_id="t", agent=agent, attempt_token=agent, result=result
    )


def cancel(agent: str) -> CancelRequested:
    return CancelRequested(workflow_id=W, task_id="t", agent=agent, attempt_token=agent)


def finished(agent: str, result: str = "r") -> TaskFinished:
    return TaskFinished(
        workflow_id=W, task_id="t", status="completed", attempts=1, agent=agent, result=result
    )


def test_a_race_and_a_vote_pass() -> None:
    check_protocol([*stream(), done("b"), cancel("a"), finished("b")])
    check_protocol([*stream("vote"), done("b"), done("a"), finished("a")])
    # A replica that delegated failed its attempt; the other won.
    delegated = Delegated(workflow_id=W, task_id="t", agent="b", attempt_token="b", plan={})
    check_protocol([*stream(), delegated, done("a"), finished("a")])


@pytest.mark.parametrize(
    ("events", "message"),
    [
        (
            [*stream()[:2], start("b", 0)],
            "Task 't' of workflow 'w1' has a redundancy, yet attempt 1 started on 'b' as no "
            "replica.",
        ),
        (
            [*stream()[:2], start("a", 2)],
            "Task 't' of workflow 'w1' started replica 2 of attempt 1 on 'a', which runs a "
            "replica of it already (or the number is taken).",
        ),
        (
            [*stream()[:2], start("b", 3)],
            "Task 't' of workflow 'w1' started replica 3 of attempt 1, more than its redundancy "
            "allows (2 copies).",
        ),
        (
            [*stream(), cancel("a"), done("a"), finished("a")],
            "Task 't' of workflow 'w1' finished as completed without a TaskCompleted carrying "
            "the token of its attempt 1.",
        ),
        (
            [*stream(), done("b"), finished("b")],
            "Task 't' of workflow 'w1' finished as completed while a replica of its attempt 1 "
            "was still running (it had not answered, crashed or been given up on).",
        ),
        (
            [*stream(), done("b"), cancel("a"), finished("b", result="other")],
            "Task 't' of workflow 'w1' finished with a result none of its replicas' "
            "TaskCompleted gave.",
        ),
        (
            [*stream("vote"), done("b"), cancel("a"), finished("b")],
            "Task 't' of workflow 'w1' finished as completed with 1 TaskCompleted of its "
            "attempt 1's replicas; its redundancy needs 2.",
        ),
    ],
)
def test_each_violation_is_caught_and_named(events: list[Event], message: str) -> None:
    with pytest.raises(ProtocolViolation, match=f"^{re.escape(message)}$"):
        check_protocol(events)
