"""The workflow events: a plan accepted, a workflow resumed from the log, and its end."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue

from ._event import Event

__all__ = ["WorkflowFinished", "WorkflowResumed", "WorkflowStarted"]


class WorkflowStarted(Event):
    """The orchestrator accepted a plan: the record a protocol check or a resume starts from.

    Fields:
        name: The workflow's name.
        plan: The plan, as ``Plan.model_dump(mode="json")``.
        agents: The declared agents (the static graph).
    """

    type: Literal["workflow.started"] = "workflow.started"
    name: str = ""
    plan: dict[str, JsonValue]
    agents: list[str] = Field(default_factory=list)


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
