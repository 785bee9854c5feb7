"""Submitting plans to an orchestrator and cancelling workflows, from any thread."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pykka
from opentelemetry import context as otel_context

from ._plan import Plan
from ._result import WorkflowResult
from ._run_state import Cancel, Submit
from ._workflow import current_workflow_span

if TYPE_CHECKING:
    from ._orchestrator import Orchestrator

__all__ = ["cancel", "submit"]


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
) -> pykka.Future[WorkflowResult]:
    """Submit ``plan`` to an orchestrator; returns at once.

    The workflow's ``invoke_workflow`` span is a child of the caller's current span, or,
    inside a :func:`workflow_span` block, that block's span.

    Args:
        orchestrator: The orchestrator's ref.
        plan: The plan to run.
        workflow_id: Id for the workflow; a new UUID hex by default.
        name: Workflow name, for the span name.

    Returns:
        A future of the :class:`WorkflowResult`; ``get(timeout=...)`` raises
        :class:`PlanValidationError` for an invalid plan and :class:`WorkflowError` if
        the orchestrator stops or crashes first.

    Raises:
        pykka.ActorDeadError: The orchestrator is not running.
    """
    future: pykka.Future[WorkflowResult] = pykka.ThreadingFuture()
    orchestrator.tell(
        Submit(
            plan,
            workflow_id or uuid.uuid4().hex,
            name,
            future,
            otel_context.get_current(),
            current_workflow_span(),
        )
    )
    return future
