"""Submitting plans to an orchestrator, deciding approvals and cancelling, from any thread."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import pykka
from opentelemetry import context as otel_context

from actors._errors import WorkflowError, WorkflowTimeout
from bus import TokenUsage

from .plan import Plan
from .result import TaskResult, WorkflowResult
from .workflow_future import WorkflowFuture
from .workflow_span import current_workflow_span
from .workflow_state import Cancel, Decide, Resume, Submit

if TYPE_CHECKING:
    from .orchestrator import Orchestrator

__all__ = ["approve", "cancel", "resume", "submit"]


def approve(
    orchestrator: pykka.ActorRef[Orchestrator],
    workflow_id: str,
    task_id: str,
    *,
    approved: bool = True,
    by: str = "",
    reason: str = "",
) -> None:
    """Approve (or reject) a task waiting for approval; returns at once.

    The approver API: the only way to decide an approval (``shared/DESIGN.md``,
    invariant 4). The decision goes to the orchestrator as a message, not on the bus;
    the orchestrator publishes it as :class:`bus.ApprovalDecided` (``source`` the
    orchestrator, ``by`` and ``reason`` as given) and acts on it: an approved task
    becomes ready, a rejected one fails (kind ``rejected``) and its dependents are
    cancelled. An ``ApprovalDecided`` published on the bus by anyone else is rejected
    (:class:`bus.EventRejected`). A decision on a task that does not wait for one
    (unknown, not gated, decided, timed out) is ignored, logged at INFO.

    Args:
        orchestrator: The orchestrator's ref.
        workflow_id: The workflow.
        task_id: The task waiting for approval.
        approved: True to run the task, false to fail it.
        by: Who decided (a person, a policy), for the record.
        reason: Why, in words, for the record (a rejection's error quotes it).

    Raises:
        pykka.ActorDeadError: The orchestrator is not running.
    """
    orchestrator.tell(Decide(workflow_id, task_id, approved, by, reason))


def cancel(
    orchestrator: pykka.ActorRef[Orchestrator], workflow_id: str, reason: str = "by request"
) -> None:
    """Cancel a workflow: each of its unfinished tasks ends as cancelled; returns at once.

    The workflow's future then resolves with status ``CANCELLED`` (late outcomes of its
    in-flight attempts are ignored and counted). Cancelling an unknown or finished
    workflow does nothing.

    Raises:
        pykka.ActorDeadError: The orchestrator is not running.
    """
    orchestrator.tell(Cancel(workflow_id, reason))


def submit(
    orchestrator: pykka.ActorRef[Orchestrator],
    plan: Plan,
    *,
    workflow_id: str | None = None,
    name: str = "workflow",
    causation_id: str = "",
    planning: Mapping[str, TokenUsage] | None = None,
    carried: Sequence[TaskResult] = (),
    replans: str = "",
) -> WorkflowFuture:
    """Submit ``plan`` to an orchestrator; returns at once.

    The workflow's ``invoke_workflow`` span is a child of the caller's current span, or,
    inside a :func:`workflow_span` block, that block's span.

    Args:
        orchestrator: The orchestrator's ref.
        plan: The plan to run.
        workflow_id: Id for the workflow; a new UUID hex by default.
        name: Workflow name, for the span name.
        causation_id: Id of the event that caused the workflow, recorded as its
            ``WorkflowStarted.causation_id``; ``""`` for none.
        planning: Tokens spent making ``plan``, by model (``Planner.spent``): counted in
            the result's ``usage`` and ``cost``, and against the budget.
        carried: Completed tasks of workflow ``replans`` that ``plan`` keeps (same
            ids): recorded as completed with their results, never run (see
            :class:`Replan`).
        replans: The workflow this one re-plans, recorded in its ``WorkflowStarted``.

    Returns:
        A future of the :class:`WorkflowResult`; ``get(timeout=...)`` raises
        :class:`PlanValidationError` for an invalid plan, :class:`BudgetExceeded` if the
        workflow spent more than ``Limits.budget``, and :class:`WorkflowError` if the
        orchestrator stops or crashes first.

    Raises:
        pykka.ActorDeadError: The orchestrator is not running.
    """
    future = WorkflowFuture()
    orchestrator.tell(
        Submit(
            plan,
            workflow_id or uuid.uuid4().hex,
            name,
            future,
            otel_context.get_current(),
            current_workflow_span(),
            causation_id,
            dict(planning or {}),
            tuple(carried),
            replans,
        )
    )
    return future


def resume(orchestrator: pykka.ActorRef[Orchestrator], workflow_id: str) -> WorkflowFuture:
    """Continue a workflow from the event log, typically after its process died.

    The orchestrator rebuilds the workflow from its records: tasks that ended keep their
    outcome (completed ones are not run again, their results feed their dependents),
    tasks that were in flight start again, and side effects already recorded in a
    persistent :class:`memory.IdempotencyStore` are not repeated. A workflow that had
    finished resolves at once with its recorded result. Resuming is a new
    ``invoke_workflow`` span (a new trace) linked to the original one.

    Returns:
        A future of the :class:`WorkflowResult`; ``get(timeout=...)`` raises
        :class:`WorkflowError` if the orchestrator has no event log, the workflow is not
        in it, or it is running here already, and :class:`PlanValidationError` if its
        plan names agents this orchestrator no longer has.

    Raises:
        pykka.ActorDeadError: The orchestrator is not running.
    """
    future = WorkflowFuture()
    orchestrator.tell(Resume(workflow_id, future, otel_context.get_current()))
    return future


CANCEL_GRACE = 5.0
"""Seconds :func:`wait` waits for a cancelled workflow's partial result."""


def wait(
    future: pykka.Future[WorkflowResult],
    workflow_id: str,
    timeout: float | None,
    cancel: Callable[[str, str], None],
) -> WorkflowResult:
    """The workflow's result within ``timeout`` seconds (``None``: no limit).

    Raises:
        WorkflowTimeout: None came in time: the workflow was cancelled (``cancel(
            workflow_id, reason)``), and the error carries its partial result.
        WorkflowError, BudgetExceeded, PlanValidationError: As the future raises them.
    """
    try:
        return future.get(timeout=timeout)
    except pykka.Timeout:
        pass
    cancel(workflow_id, f"Team.run gave up after {timeout:g} s")
    try:
        partial: WorkflowResult | None = future.get(timeout=CANCEL_GRACE)
    except (pykka.Timeout, WorkflowError):
        partial = None
    msg = (
        f"Workflow {workflow_id!r} did not end within {timeout:g} s; it was cancelled "
        "(see .partial for what it had done)."
    )
    raise WorkflowTimeout(msg, workflow_id=workflow_id, partial=partial)
