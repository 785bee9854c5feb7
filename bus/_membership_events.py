"""Membership events: agents joining and leaving a running team (elastic pools)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ._event import Event

__all__ = ["AgentJoined", "AgentLeft"]


class AgentJoined(Event):
    """An agent joined the running team: attempts may be routed to it from now on.

    Published by the orchestrator (its ``source``) when a pool grows
    (``actors.AgentPool``).

    Fields:
        agent: The new agent's name.
        capabilities: What it can be given tasks for (a pool member: the pool's name).
    """

    starts_trace: ClassVar[bool] = False

    type: Literal["team.agent_joined"] = "team.agent_joined"
    agent: str = Field(min_length=1)
    capabilities: list[str] = Field(default_factory=list)


class AgentLeft(Event):
    """An agent left the running team, idle: no attempt is routed to it any more.

    Fields:
        agent: Its name.
    """

    starts_trace: ClassVar[bool] = False

    type: Literal["team.agent_left"] = "team.agent_left"
    agent: str = Field(min_length=1)
