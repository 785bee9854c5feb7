"""Rebuilding a workflow's state from its events in the event log (for resume)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from opentelemetry.trace import SpanContext

from actors._errors import WorkflowError
from bus import (
    Event,
    TaskFinished,
    TaskStarted,
    WorkflowFinished,
    WorkflowResumed,
    WorkflowStarted,
    from_wire,
)

from .plan import Plan

__all__ = ["Rebuilt", "rebuild"]


@dataclass(slots=True)
class Rebuilt:
    """What the event log says about one workflow.

    Attributes:
        workflow_id: The workflow.
        name: Its name.
        plan: Its plan (from ``WorkflowStarted``).
        finished: The ``TaskFinished`` record of every task that ended, by task id.
        attempts: The highest attempt started, by task id (tasks never started absent).
        done: The ``WorkflowFinished`` record, if the workflow ended.
        origin: The span context that published ``WorkflowStarted`` (to link to), if any.
    """

    workflow_id: str
    name: str
    plan: Plan
    finished: dict[str, TaskFinished] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    done: WorkflowFinished | None = None
    origin: SpanContext | None = None

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
            continue
        if state is None:
            continue
        if isinstance(event, TaskStarted):
            state.attempts[event.task_id] = max(event.attempt, state.attempts.get(event.task_id, 0))
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
