"""``check_protocol``: the protocol invariants of ``shared/DESIGN.md``, on a recorded run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from actors._orchestration.plan import Plan
from bus import (
    ApprovalDecided,
    Event,
    TaskCompleted,
    TaskFinished,
    TaskStarted,
    WorkflowFinished,
    WorkflowStarted,
)

__all__ = ["ProtocolViolation", "check_protocol"]


class ProtocolViolation(AssertionError):  # noqa: N818 - it is an assertion, named as the rule
    """A recorded event stream breaks a protocol invariant; the message says which, and where.

    Attributes:
        workflow_id: The workflow.
        task_id: The offending task (``""`` if the workflow as a whole).
    """

    def __init__(self, message: str, *, workflow_id: str, task_id: str = "") -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.task_id = task_id


@dataclass
class _Run:
    plan: Plan
    agents: frozenset[str]
    finished: dict[str, TaskFinished] = field(default_factory=dict)
    completed: set[tuple[str, int]] = field(default_factory=set)  # (task, attempt) reported
    approved: set[str] = field(default_factory=set)
    done: bool = False


def check_protocol(events: Iterable[Event]) -> None:
    """Check a recorded event stream (in publish order) against the protocol invariants.

    Record with :class:`actors.testing.EventRecorder` on the bus from before a workflow
    is submitted until its future resolved. Per workflow (from its ``WorkflowStarted``):

    1. **Conservation** — every task of the plan ends in exactly one ``TaskFinished``;
       none ends twice, none unknown ends, and none is missing once ``WorkflowFinished``
       was published. A task finished as ``completed`` had a ``TaskCompleted`` for its
       last attempt.
    2. **Order** — no ``TaskStarted`` of a task before every dependency finished as
       completed, and none after the task itself finished.
    3. **Bounds** — no attempt number above the task's ``max_attempts``.
    4. **Static graph** — every ``TaskStarted`` names a declared agent.
    5. **Approval** — a task that needs approval starts only after an approval.

    Raises:
        ProtocolViolation: The first violation, explained in one sentence that names the
            workflow and the task.
    """
    runs: dict[str, _Run] = {}
    for event in events:
        if isinstance(event, WorkflowStarted):
            runs[event.workflow_id] = _Run(Plan.model_validate(event.plan), frozenset(event.agents))
            continue
        run = runs.get(event.workflow_id)
        if run is None:
            continue
        if isinstance(event, TaskStarted):
            _check_start(event, run)
        elif isinstance(event, TaskCompleted):
            run.completed.add((event.task_id, event.attempt))
        elif isinstance(event, ApprovalDecided) and event.approved:
            run.approved.add(event.task_id)
        elif isinstance(event, TaskFinished):
            _check_finish(event, run)
        elif isinstance(event, WorkflowFinished):
            _check_end(event, run)


def _fail(event: Event, message: str) -> ProtocolViolation:
    return ProtocolViolation(message, workflow_id=event.workflow_id, task_id=event.task_id)


def _task(run: _Run, event: Event) -> tuple[str, ...]:
    for task in run.plan.tasks:
        if task.id == event.task_id:
            return task.depends_on
    msg = (
        f"Workflow {event.workflow_id!r} has no task {event.task_id!r}, "
        f"yet a {event.type} names it."
    )
    raise _fail(event, msg)


def _check_start(event: TaskStarted, run: _Run) -> None:
    wf, tid = event.workflow_id, event.task_id
    depends_on = _task(run, event)
    if tid in run.finished:
        msg = f"Task {tid!r} of workflow {wf!r} started attempt {event.attempt} after it finished."
        raise _fail(event, msg)
    for dep in depends_on:
        done = run.finished.get(dep)
        if done is None or done.status != "completed":
            msg = (
                f"Task {tid!r} of workflow {wf!r} started before its dependency {dep!r} completed."
            )
            raise _fail(event, msg)
    task = next(t for t in run.plan.tasks if t.id == tid)
    if task.needs_approval and tid not in run.approved:
        msg = f"Task {tid!r} of workflow {wf!r} started without the approval it needs."
        raise _fail(event, msg)
    max_attempts = task.max_attempts
    if event.attempt > max_attempts:
        msg = (
            f"Task {tid!r} of workflow {wf!r} started attempt {event.attempt}, "
            f"more than its max_attempts of {max_attempts}."
        )
        raise _fail(event, msg)
    if run.agents and event.agent not in run.agents:
        msg = f"Task {tid!r} of workflow {wf!r} was sent to undeclared agent {event.agent!r}."
        raise _fail(event, msg)


def _check_finish(event: TaskFinished, run: _Run) -> None:
    wf, tid = event.workflow_id, event.task_id
    _task(run, event)
    before = run.finished.get(tid)
    if before is not None:
        msg = f"Task {tid!r} of workflow {wf!r} ended twice: {before.status}, then {event.status}."
        raise _fail(event, msg)
    if event.status == "completed" and (tid, event.attempts) not in run.completed:
        msg = (
            f"Task {tid!r} of workflow {wf!r} finished as completed without a TaskCompleted "
            f"for its attempt {event.attempts}."
        )
        raise _fail(event, msg)
    run.finished[tid] = event


def _check_end(event: WorkflowFinished, run: _Run) -> None:
    missing = [t.id for t in run.plan.tasks if t.id not in run.finished]
    if missing:
        msg = (
            f"Workflow {event.workflow_id!r} finished while task {missing[0]!r} "
            "had not ended (a task was lost)."
        )
        raise ProtocolViolation(msg, workflow_id=event.workflow_id, task_id=missing[0])
    run.done = True
