"""Approval gates: a task marked needs_approval waits for a decision, within a timeout."""

from __future__ import annotations

import pytest

from actors import Agent, Limits, Plan, Task, TaskContext, TaskStatus, Team
from actors.testing import EventRecorder, ProtocolViolation, check_protocol
from bus import ApprovalRequested, EventBus, TaskStarted, WorkflowStarted


class Echo(Agent):
    def handle(self, task: TaskContext) -> object:
        return task.task_id


PLAN = Plan(
    tasks=(
        Task(id="pay", agent="echo", description="wire 10,000 EUR", needs_approval=True),
        Task(id="notify", agent="echo", depends_on=("pay",)),
    )
)


def test_a_gated_task_waits_for_approval_then_runs(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    with Team([Echo.child_spec("echo", bus)], bus=bus) as team:
        future = team.submit(PLAN, workflow_id="w1")
        assert rec.wait_for(lambda ev: any(isinstance(e, ApprovalRequested) for e in ev))
        assert not [e for e in rec.events if isinstance(e, TaskStarted)]
        [request] = rec.of_type(ApprovalRequested)
        assert (request.task_id, request.description) == ("pay", "wire 10,000 EUR")
        team.approve("w1", "pay", by="cfo", reason="budgeted")
        result = future.get(timeout=10)
    assert result.ok
    check_protocol(rec.events)


def test_a_rejected_task_fails_and_its_dependents_are_cancelled(bus: EventBus) -> None:
    rec = EventRecorder(bus, ApprovalRequested)
    with Team([Echo.child_spec("echo", bus)], bus=bus) as team:
        future = team.submit(PLAN, workflow_id="w1")
        assert rec.wait_for(lambda ev: len(ev) == 1)
        team.approve("w1", "pay", approved=False, by="cfo", reason="not this quarter")
        result = future.get(timeout=10)
    pay, notify = result.tasks
    assert (pay.status, pay.error) == (TaskStatus.FAILED, "rejected by cfo: not this quarter")
    assert notify.status is TaskStatus.CANCELLED


def test_no_decision_within_the_timeout_fails_the_task(bus: EventBus) -> None:
    with Team([Echo.child_spec("echo", bus)], bus=bus, limits=Limits(approval_timeout=0.1)) as team:
        result = team.run(PLAN, timeout=10)
    pay, notify = result.tasks
    assert (pay.status, pay.error) == (TaskStatus.FAILED, "approval: none within 0.1 s")
    assert notify.status is TaskStatus.CANCELLED


def test_check_protocol_catches_a_start_without_approval() -> None:
    events = [
        WorkflowStarted(workflow_id="w1", plan=PLAN.model_dump(mode="json"), agents=["echo"]),
        TaskStarted(workflow_id="w1", task_id="pay", agent="echo"),
    ]
    with pytest.raises(
        ProtocolViolation,
        match=r"^Task 'pay' of workflow 'w1' started without the approval it needs\.$",
    ):
        check_protocol(events)
