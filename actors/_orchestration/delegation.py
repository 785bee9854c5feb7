"""Delegation: an agent hands back a sub-plan, which runs as a child workflow of its task."""

from __future__ import annotations

from collections.abc import Callable

import pydantic
import pykka
from opentelemetry import context as otel_context
from opentelemetry import trace

from actors._errors import PlanValidationError
from actors._json_value import describe_validation_error
from bus import Delegated, FailureKind, TaskCompleted, WorkflowStarted

from .dispatch import Dispatching
from .plan import Plan
from .result import TaskStatus, WorkflowResult
from .retries import Retries
from .workflow_span import start_workflow_span
from .workflow_state import Resume, Submit, TaskRun, Workflow

__all__ = ["Delegations", "child_workflow_id"]


def child_workflow_id(parent_id: str, task_id: str, attempt: int) -> str:
    """The id of the child workflow that attempt ``attempt`` of a task delegated to.

    One per attempt (a retry that delegates again starts a new child), and the same
    after a resume, which finds the child in the event log by it.

    Example:
        >>> child_workflow_id("wf", "research", 2)
        'wf/research.2'
    """
    return f"{parent_id}/{task_id}.{attempt}"


class Delegations(Retries, Dispatching):
    """Runs a task's delegated sub-plan as its child workflow, and ends the task with it.

    On a :class:`bus.Delegated` for the attempt in flight, the agent is free at once
    (the router counts the attempt as ended); the task stays running, its attempt's
    timer still counting. The sub-plan must be a valid plan over this orchestrator's
    agents, and the delegating workflow less deep than ``Limits.max_delegation_depth``;
    otherwise the task fails (kind ``error``, not retried). It then runs as a workflow
    of its own, id :func:`child_workflow_id`, whose ``WorkflowStarted`` names the parent
    workflow and task, and whose ``invoke_workflow`` span is a child of the span that
    processed the ``Delegated`` (in the parent's trace).

    When the child ends, the task ends with it: completed with the child's ``answer``;
    failed, and retried within ``max_attempts`` (its agent runs again and may delegate
    again, to a new child), when a child task did not complete; failed (kind
    ``cancelled``, not retried) when the child was cancelled on its own. When the task
    ends first (its workflow cancelled or stopped by its budget or ``max_steps``, the
    attempt timed out), the child is cancelled, and with it its own children. A child
    spends from its root's budget and steps (see :meth:`Workflow.spend`,
    :meth:`Workflow.step`); its usage is its parent task's.
    """

    agents: frozenset[str]

    def _delegated(self, wf: Workflow, run: TaskRun, event: Delegated) -> None:
        """Start ``event``'s sub-plan as a child workflow of ``run``'s task, or fail the task."""
        self._attempt_over(run, ok=True)  # the agent is free; the task waits for the child
        run.attempt_token = ""  # the dispatch ended: a repeat of its outcome is late
        task_id = run.task.id
        limit = self.limits.max_delegation_depth
        plan: Plan | None = None
        error = ""
        child_id = child_workflow_id(wf.id, task_id, run.attempts)
        if wf.depth >= limit:
            error = (
                f"DelegationError: task {task_id!r} of workflow {wf.id!r} delegated a sub-plan "
                f"at nesting depth {wf.depth + 1}, past the limit of {limit} "
                "(Limits.max_delegation_depth); do the work in the task, or raise the limit."
            )
        elif child_id in self._workflows:
            error = f"DelegationError: workflow {child_id!r} is running already."
        else:
            try:
                plan = Plan.model_validate(event.plan)
                self._check_plan(plan)
            except pydantic.ValidationError as exc:
                error = (
                    f"PlanValidationError: task {task_id!r} delegated a sub-plan that is not "
                    f"a plan: {describe_validation_error(exc)}"
                )
            except PlanValidationError as exc:
                error = f"PlanValidationError: {exc}"
        if plan is None or error:
            self._failed(wf, run, FailureKind.ERROR, error, retryable=False)
            return
        self._start_child(wf, run, child_id, plan, event)

    def _start_child(
        self, wf: Workflow, run: TaskRun, child_id: str, plan: Plan, event: Delegated
    ) -> None:
        current = trace.get_current_span().get_span_context()
        if current.trace_id == wf.span.get_span_context().trace_id:
            parent = otel_context.get_current()  # the process span of the Delegated
        else:
            parent = trace.set_span_in_context(wf.span)
        span = start_workflow_span(self._tracer, run.task.id, parent)
        span.set_attribute("actorchestra.workflow.parent_id", wf.id)
        span.set_attribute("actorchestra.workflow.parent_task_id", run.task.id)
        wf.span.add_event(
            "delegate",
            {"actorchestra.task.id": run.task.id, "actorchestra.workflow.child_id": child_id},
        )
        future: pykka.Future[WorkflowResult] = pykka.ThreadingFuture()
        child = self._new_workflow(child_id, plan, future, span, owns_span=True)
        child.attach(wf, run)
        with self._in_span(child.span):
            self._record(
                WorkflowStarted,
                workflow_id=child.id,
                name=run.task.id,
                causation_id=event.id,
                plan=event.plan,
                agents=sorted(self.agents),
                parent_workflow_id=wf.id,
                parent_task_id=run.task.id,
            )
            self._dispatch(child)  # the caller settles its parent, which drains for all

    # -- a child's step or spend stops its root ----------------------------------------------

    def _start_attempt(
        self, wf: Workflow, run: TaskRun, *, new_attempt: bool, route: bool = True
    ) -> None:
        super()._start_attempt(wf, run, new_attempt=new_attempt, route=route)
        self._finish_stopped_root(wf)  # the step limit, counted at the root, stopped it

    def _check_budget(self, wf: Workflow) -> None:
        super()._check_budget(wf.root)  # a child workflow spends from its root's budget
        self._finish_stopped_root(wf)

    def _finish_stopped_root(self, wf: Workflow) -> None:
        """Finish ``wf``'s root if a limit cancelled it (with ``wf``) from within ``wf``.

        The caller settles ``wf`` only; the root's tasks, its delegating one among them,
        all ended.
        """
        root = wf.root
        if root is not wf and root.open_tasks == 0 and root.id in self._workflows:
            self._finish(root)

    # -- the child ends: its parent task ends with it ---------------------------------------

    def _finish(self, wf: Workflow, *, record: bool = True) -> None:
        super()._finish(wf, record=record)
        if wf.parent is not None:
            self._child_ended(wf, wf.future.get(timeout=0))  # a child has no budget error

    def _child_ended(self, child: Workflow, result: WorkflowResult) -> None:
        parent, run = child.parent, child.parent_run
        if parent is None or run is None:
            return
        if run.child_id == child.id:
            run.child_result = result
        if run.child is not child or self._workflows.get(parent.id) is not parent:
            return  # the task ended first (and cancelled the child)
        run.child = None
        self._go_on(parent, lambda: self._end_with_child(parent, run, child, result))

    def _go_on(self, wf: Workflow, change: Callable[[], None]) -> None:
        """Apply ``change`` to ``wf`` (in its span), dispatch what became ready, finish it.

        The waiting room is left to the caller's settling (this runs inside one).
        """
        with self._in_span(wf.span):
            try:
                change()
                self._dispatch(wf)
                if wf.open_tasks == 0 and wf.id in self._workflows:
                    self._finish(wf)
            except Exception as exc:  # contained to that workflow
                self._contain(exc, wf=wf)

    def _end_with_child(
        self, wf: Workflow, run: TaskRun, child: Workflow, result: WorkflowResult
    ) -> None:
        if result.ok:
            done = TaskCompleted(
                source=self.name,
                workflow_id=wf.id,
                task_id=run.task.id,
                attempt=run.attempts,
                agent=run.agent,
                result=result.answer,
            )
            self._completed(wf, run, done)  # its usage was counted as the child spent it
            return
        if result.status is TaskStatus.CANCELLED:
            error = (
                f"DelegationError: child workflow {child.id!r} was cancelled "
                f"({child.cancel_reason})."
            )
            self._failed(wf, run, FailureKind.CANCELLED, error, retryable=False)
            return
        failed = "; ".join(
            f"task {t.task_id!r} {t.error.rstrip('.')}"
            for t in result.tasks
            if t.status is TaskStatus.FAILED
        )
        why = f" ({child.failed_reason})" if child.failed_reason else ""
        error = f"DelegationError: child workflow {child.id!r} failed{why}: {failed}."
        self._failed(wf, run, FailureKind.ERROR, error, retryable=True)

    # -- the task ends first: its child is cancelled ----------------------------------------

    def _give_up(self, wf: Workflow, run: TaskRun, reason: str, *, failure: bool = False) -> None:
        super()._give_up(wf, run, reason, failure=failure)
        child = run.child
        if child is not None:
            run.child = None
            self._cancel_child(child, f"its parent task {run.task.id!r} ended ({reason})")

    def _cancel_child(self, child: Workflow, reason: str) -> None:
        """Cancel ``child`` and its own children, and finish it (its tasks all ended)."""
        if self._workflows.get(child.id) is not child:
            return
        with self._in_span(child.span):
            self._cancel(child, reason)
            self._finish(child)

    def _contain(
        self, exc: Exception, *, wf: Workflow | None = None, message: Submit | Resume | None = None
    ) -> None:
        """Contain as usual; a child ended so fails its parent task (not retried)."""
        waited = wf is not None and wf.parent_run is not None and wf.parent_run.child is wf
        super()._contain(exc, wf=wf, message=message)
        if not waited or wf is None or wf.parent is None or wf.parent_run is None:
            return
        parent, run = wf.parent, wf.parent_run
        run.child = None
        if self._workflows.get(parent.id) is not parent:
            return
        error = (
            f"DelegationError: child workflow {wf.id!r} failed: the orchestrator could not "
            f"handle its data ({type(exc).__name__})."
        )
        kind = FailureKind.ORCHESTRATOR
        self._go_on(parent, lambda: self._failed(parent, run, kind, error, retryable=False))
