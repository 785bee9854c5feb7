"""Resume: a workflow whose process died goes on from its events in the event log."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pykka
from opentelemetry import trace
from opentelemetry.trace import SpanContext

from actors._errors import PlanValidationError, WorkflowError
from bus import (
    ApprovalDecided,
    Delegated,
    Event,
    EventRejected,
    FailureKind,
    TaskFinished,
    TaskStarted,
    WorkflowFinished,
    WorkflowResumed,
    WorkflowStarted,
)
from bus.lowlevel import from_wire

from .delegation import child_workflow_id
from .dispatch import Dispatching
from .plan import Plan
from .result import TaskStatus, WorkflowResult
from .workflow_span import start_workflow_span
from .workflow_state import AttemptTimedOut, Resume, TaskRun, Workflow

__all__ = ["Rebuilt", "Resumption", "rebuild"]


@dataclass(slots=True)
class Rebuilt:
    """What the event log says about one workflow.

    Attributes:
        workflow_id: The workflow.
        name: Its name.
        plan: Its plan (from ``WorkflowStarted``).
        finished: The ``TaskFinished`` record of every task that ended, by task id.
        attempts: The highest attempt started, by task id (tasks never started absent).
        tokens: Every attempt token issued, by task id: token → its attempt number (so
            the late outcome of an attempt cut short is stale, not forged).
        approved: Tasks with an approving ``ApprovalDecided`` that the log does not show
            rejected as forged (see :attr:`approvals` and :attr:`rejected`).
        done: The ``WorkflowFinished`` record, if the workflow ended.
        origin: The span context that published ``WorkflowStarted`` (to link to), if any.
        approvals: Ids of approving ``ApprovalDecided`` records, by task id.
        rejected: Ids of events the orchestrator rejected (``EventRejected.causation_id``).
        delegated: Each task's last ``Delegated`` carrying a token issued for its
            attempt, by task id (its child workflow may be in the log).
        parent_workflow_id: For a child workflow, its parent workflow (``""``: none).
        parent_task_id: For a child workflow, the task that delegated to it.
    """

    workflow_id: str
    name: str
    plan: Plan
    finished: dict[str, TaskFinished] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, dict[str, int]] = field(default_factory=dict)
    done: WorkflowFinished | None = None
    origin: SpanContext | None = None
    approvals: dict[str, list[str]] = field(default_factory=dict)
    rejected: set[str] = field(default_factory=set)
    delegated: dict[str, Delegated] = field(default_factory=dict)
    parent_workflow_id: str = ""
    parent_task_id: str = ""

    @property
    def approved(self) -> set[str]:
        """Tasks approved by a decision the orchestrator did not reject."""
        return {t for t, ids in self.approvals.items() if not self.rejected.issuperset(ids)}

    @property
    def in_flight(self) -> list[str]:
        """Tasks started and not ended, in plan order: the work the process died in."""
        return [
            t.id for t in self.plan.tasks if t.id in self.attempts and t.id not in self.finished
        ]


def rebuild(workflow_id: str, events: Iterable[Event]) -> Rebuilt:
    """Fold a workflow's logged events (in append order) into its state.

    Only the orchestrator's own records and its ``TaskStarted`` events count: outcomes
    reported by agents matter only once the orchestrator recorded a ``TaskFinished``.
    Decisions on approvals count unless an ``EventRejected`` shows them forged. (The
    log holds whatever was published on its bus: a record forged in the
    orchestrator's name and not yet rejected when the process died is taken as its.)

    Raises:
        WorkflowError: No ``WorkflowStarted`` for ``workflow_id`` (not in this log, or
            removed by retention).
    """
    state: Rebuilt | None = None
    for event in events:
        if isinstance(event, WorkflowStarted):
            if state is None:
                plan = Plan.model_validate(event.plan)
                origin = from_wire(event).span_context
                state = Rebuilt(workflow_id, event.name, plan, origin=origin)
                state.parent_workflow_id = event.parent_workflow_id
                state.parent_task_id = event.parent_task_id
            continue
        if state is None:
            continue
        if isinstance(event, TaskStarted):
            state.attempts[event.task_id] = max(event.attempt, state.attempts.get(event.task_id, 0))
            if event.attempt_token:
                state.tokens.setdefault(event.task_id, {})[event.attempt_token] = event.attempt
        elif isinstance(event, ApprovalDecided):
            if event.approved:
                state.approvals.setdefault(event.task_id, []).append(event.id)
        elif isinstance(event, EventRejected):
            state.rejected.add(event.causation_id)
        elif isinstance(event, Delegated):
            if state.tokens.get(event.task_id, {}).get(event.attempt_token) == event.attempt:
                state.delegated[event.task_id] = event
        elif isinstance(event, TaskFinished):
            state.finished.setdefault(event.task_id, event)
        elif isinstance(event, WorkflowFinished):
            state.done = event
        elif isinstance(event, WorkflowResumed):
            state.done = None
    if state is None:
        msg = (
            f"Workflow {workflow_id!r} is not in the event log (never started there, or "
            "removed by retention); there is nothing to resume."
        )
        raise WorkflowError(msg)
    return state


class Resumption(Dispatching):
    """Rebuilds a workflow from the event log and runs what is left of it.

    Tasks that ended keep their recorded outcome and are not run again; tasks that were
    in flight start again under the attempt number they had (an attempt cut short by
    the process's death does not count against ``Task.max_attempts``), with a new
    attempt token (a late outcome with the old one is ignored as late); gated tasks
    approved before keep their approval; the rest runs as usual. The new
    ``invoke_workflow`` span links to the original one.

    A task in flight whose child workflow (see :class:`actors.Delegate`) is in the log
    is not started again: the child is rebuilt and resumed with it, as a child again
    (its span a child of the resumed parent's), recursively, and the task waits for it
    under its attempt number, its timeout counted afresh. A child that had finished
    ends its task at once. A child workflow is resumed only through its root: resuming
    it by its own id is refused.
    """

    def _resume_workflow(self, msg: Resume) -> None:
        try:
            state = self._rebuild(msg.workflow_id)
            if state.parent_workflow_id:
                text = (
                    f"Workflow {msg.workflow_id!r} is a child workflow of task "
                    f"{state.parent_task_id!r} of workflow {state.parent_workflow_id!r}; "
                    "resume that workflow, which resumes its children."
                )
                raise WorkflowError(text)
            self._check_plan(state.plan)
        except (WorkflowError, PlanValidationError) as exc:
            msg.future.set_exception((type(exc), exc, exc.__traceback__))
            return
        links = [trace.Link(state.origin)] if state.origin is not None else None
        span = start_workflow_span(self._tracer, state.name, msg.parent, links)
        span.set_attribute("actorchestra.workflow.resumed", True)
        wf = self._new_workflow(
            msg.workflow_id, state.plan, msg.future, span, owns_span=True, finished=state.finished
        )
        with self._in_span(wf.span):
            if self._resume_rest(wf, state):
                self._check_budget(wf)
                self._settle(wf)

    def _resume_rest(self, wf: Workflow, state: Rebuilt) -> bool:
        """Restore ``wf``'s tasks from ``state`` and resume its children; whether it runs on.

        A task in flight whose child workflow is in the log waits for that child,
        resumed with it (recursively); the other tasks in flight start again.
        """
        for task_id in state.in_flight:
            # The attempt cut short by the process's death runs again under its number.
            wf.tasks[task_id].attempts = state.attempts[task_id] - 1
        for task_id, tokens in state.tokens.items():
            if task_id in wf.tasks:  # known, so a late outcome is stale rather than forged
                wf.tasks[task_id].tokens.update(tokens)
        for task_id in state.approved - state.finished.keys():
            if task_id in wf.tasks:
                wf.tasks[task_id].approval = "approved"
        if state.done is not None:
            self._finish(wf, record=False)
            return False
        children = self._children_in_log(wf, state)
        self._record(
            WorkflowResumed,
            workflow_id=wf.id,
            name=state.name,
            reused=sorted(state.finished),
            restarted=[t for t in state.in_flight if t not in children],
        )
        for task_id, child_state in children.items():
            self._resume_child(wf, wf.tasks[task_id], child_state, state.delegated.get(task_id))
        return True

    def _children_in_log(self, wf: Workflow, state: Rebuilt) -> dict[str, Rebuilt]:
        """The child workflows in the log of ``wf``'s tasks in flight, by task id."""
        found: dict[str, Rebuilt] = {}
        for task_id in state.in_flight:
            child_id = child_workflow_id(wf.id, task_id, state.attempts[task_id])
            try:
                child = self._rebuild(child_id)
            except WorkflowError:
                continue  # none: the task starts again
            if (child.parent_workflow_id, child.parent_task_id) == (wf.id, task_id):
                found[task_id] = child
        if found:
            wf.ready = [entry for entry in wf.ready if entry[2] not in found]
            heapq.heapify(wf.ready)
        return found

    def _resume_child(
        self, wf: Workflow, run: TaskRun, state: Rebuilt, delegated: Delegated | None
    ) -> None:
        """Resume ``run``'s child workflow from ``state``; ``run`` waits for it again.

        The task's attempt goes on under its number, its timeout counted afresh.
        """
        run.attempts = max(1, run.attempts + 1)
        run.status = TaskStatus.RUNNING
        run.started_at = datetime.now(UTC)
        if delegated is not None:
            run.agent = delegated.agent
            wf.spend(run, delegated.usage, delegated.model)
        try:
            self._check_plan(state.plan)
        except PlanValidationError as exc:  # its agents are gone: the task fails
            self._fail(wf, run, FailureKind.ERROR, f"PlanValidationError: {exc}")
            return
        task = run.task
        timeout = task.timeout if task.timeout is not None else self.limits.task_timeout
        if timeout is not None:
            message = AttemptTimedOut(wf.id, task.id, run.attempts, timeout, run.dispatches)
            self._set_timer(run, timeout, message)
        links = [trace.Link(state.origin)] if state.origin is not None else None
        parent = trace.set_span_in_context(wf.span)
        span = start_workflow_span(self._tracer, state.name, parent, links)
        span.set_attribute("actorchestra.workflow.resumed", True)
        future: pykka.Future[WorkflowResult] = pykka.ThreadingFuture()
        child = self._new_workflow(
            state.workflow_id, state.plan, future, span, owns_span=True, finished=state.finished
        )
        child.attach(wf, run)
        with self._in_span(child.span):
            if self._resume_rest(child, state):
                self._dispatch(child)  # the root's settling drains for all

    def _rebuild(self, workflow_id: str) -> Rebuilt:
        if workflow_id in self._workflows:
            msg = f"Workflow {workflow_id!r} is running in this orchestrator; it needs no resume."
            raise WorkflowError(msg)
        if self._event_log is None:
            msg = (
                f"Orchestrator {self.name!r} has no event log to resume from; give the bus "
                "one: EventBus(event_log=memory.SQLiteEventLog(path))."
            )
            raise WorkflowError(msg)
        return rebuild(workflow_id, self._event_log.events(workflow_id))
