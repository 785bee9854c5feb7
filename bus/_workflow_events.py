"""The workflow events: a plan accepted, a workflow resumed from the log, and its end."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue

from ._event import Event

__all__ = ["TriggerFailed", "WorkflowFinished", "WorkflowResumed", "WorkflowStarted"]


class WorkflowStarted(Event):
    """The orchestrator accepted a plan: the record a protocol check or a resume starts from.

    Its ``causation_id`` is the id of the event that started the workflow (a trigger's,
    see ``actors.Team.on``), ``""`` for a plan submitted directly.

    Fields:
        name: The workflow's name.
        plan: The plan, as ``Plan.model_dump(mode="json")``.
        agents: The declared agents (the static graph).
        parent_workflow_id: For a child workflow (a task's delegated sub-plan, see
            :class:`Delegated`), the workflow of the task that delegated; ``""`` for a
            workflow submitted directly, and in records written before it existed.
        parent_task_id: For a child workflow, the task that delegated; ``""`` otherwise.
        replans: The workflow this one re-plans (it failed; see ``actors.Replan``),
            ``""`` for none.
        carried: Tasks of the plan carried over as completed from ``replans``: each has
            its ``TaskFinished`` right after this record, and never runs.
    """

    type: Literal["workflow.started"] = "workflow.started"
    name: str = ""
    plan: dict[str, JsonValue]
    agents: list[str] = Field(default_factory=list)
    parent_workflow_id: str = ""
    parent_task_id: str = ""
    replans: str = ""
    carried: list[str] = Field(default_factory=list)


class WorkflowResumed(Event):
    """A workflow was rebuilt from the event log and continues (after its process died).

    Fields:
        name: The workflow's name.
        reused: Tasks that had ended before, whose outcomes are kept (not run again).
        restarted: Tasks that were in flight, started again.
    """

    type: Literal["workflow.resumed"] = "workflow.resumed"
    name: str = ""
    reused: list[str] = Field(default_factory=list)
    restarted: list[str] = Field(default_factory=list)


class WorkflowFinished(Event):
    """Every task of a workflow is terminal.

    Fields:
        status: ``completed`` if every task completed, else ``failed`` or ``cancelled``.
        duration: Seconds from acceptance to the end.
    """

    type: Literal["workflow.finished"] = "workflow.finished"
    status: Literal["completed", "failed", "cancelled"]
    duration: float = Field(ge=0)


class TriggerFailed(Event):
    """A trigger could not start a workflow for an event (``causation_id`` is that event's id).

    Its key function or plan factory raised, or the plan was not valid for the team; the
    trigger goes on with later events, and the key stays free (a later event with the
    same key may start the workflow).

    Fields:
        trigger: The trigger's name.
        key: The event's key, ``""`` if computing it failed.
        error_type: The exception's class name, e.g. ``"PlanValidationError"``.
        message: What went wrong (a pydantic error described without quoting the input).
    """

    type: Literal["workflow.trigger_failed"] = "workflow.trigger_failed"
    trigger: str = Field(min_length=1)
    key: str = ""
    error_type: str = Field(min_length=1)
    message: str = ""
