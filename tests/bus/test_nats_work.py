"""The work a process holds for JetStream: one message per dispatch, acknowledged at its end."""

from __future__ import annotations

from typing import Any

from bus import TaskCompleted, TaskFailed, TaskStarted
from bus._nats_work import PendingWork


def started(agent: str, token: str, replica: int) -> TaskStarted:
    return TaskStarted(
        workflow_id="w", task_id="t", attempt=1, agent=agent, attempt_token=token, replica=replica
    )


def test_replicas_of_one_attempt_on_agents_of_one_process_are_held_apart() -> None:
    work = PendingWork()
    messages: dict[str, Any] = {"a": object(), "b": object()}
    for replica, agent in enumerate(messages, 1):
        work.hold(started(agent, f"token-{agent}", replica), messages[agent], 0.0, 60.0)
    assert len(work) == 2
    assert (work.held_for("a"), work.held_for("b")) == (1, 1)
    done = TaskCompleted(
        workflow_id="w", task_id="t", attempt=1, agent="b", attempt_token="token-b"
    )
    assert work.ended(done) is messages["b"]
    failed = TaskFailed(
        workflow_id="w", task_id="t", attempt=1, agent="a", error_type="E", attempt_token="token-a"
    )
    assert work.ended(failed) is messages["a"]
    assert len(work) == 0
    assert work.ended(done) is None  # acknowledged once


def test_a_redelivered_dispatch_replaces_the_one_held() -> None:
    work = PendingWork()
    first, again = object(), object()
    work.hold(started("a", "token", 0), first, 0.0, 60.0)  # type: ignore[arg-type]
    work.hold(started("a", "token", 0), again, 0.0, 60.0)  # type: ignore[arg-type]
    assert len(work) == 1
    assert work.drop(started("a", "token", 0)) is again
