"""Delegation's event: an agent hands back a sub-plan, to run as a child workflow of its task."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, JsonValue

from ._event import Event
from ._token_usage import TokenUsage

__all__ = ["Delegated"]


class Delegated(Event):
    """An agent ended its attempt by delegating: its task is to run ``plan`` as a child workflow.

    It ends the attempt like a ``TaskCompleted`` (the agent is free at once), but the
    task stays running: the orchestrator validates the plan against its agents, starts
    it as a child workflow of the task (``WorkflowStarted.parent_workflow_id`` and
    ``parent_task_id`` name the task) and ends the task when the child ends, with the
    child's answer, or failed with its cause.

    Fields:
        agent: Name of the agent that delegated.
        plan: The sub-plan, as ``actors.Plan.model_dump(mode="json")``.
        reason: Why, in words.
        usage: Tokens the attempt spent before delegating.
        model: The model the attempt's tokens were spent on (its request name, the key
            of :class:`actors.Prices`); ``""`` when no model or more than one was used.
        attempt_token: The attempt's token, copied from its :class:`TaskStarted`.
    """

    sender_field: ClassVar[str] = "agent"

    type: Literal["task.delegated"] = "task.delegated"
    agent: str = Field(min_length=1)
    plan: dict[str, JsonValue]
    reason: str = ""
    usage: TokenUsage = Field(default_factory=TokenUsage)
    model: str = ""
    attempt_token: str = Field(default="", max_length=256, repr=False)
