"""Membership: agents join and leave a running team (an elastic pool grows and shrinks)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bus import AgentJoined, AgentLeft

from .dispatch import Dispatching

__all__ = ["Backlog", "Join", "Leave", "Load", "Membership"]


@dataclass(frozen=True, slots=True)
class Join:
    """Route attempts to ``agent`` too, for ``capabilities`` (asked; answered ``None``)."""

    agent: str
    capabilities: frozenset[str]


@dataclass(frozen=True, slots=True)
class Leave:
    """Stop routing to ``agent`` if it is idle (asked; answered whether it left)."""

    agent: str


@dataclass(frozen=True, slots=True)
class Backlog:
    """Ask for the :class:`Load` of a target (an agent or a capability)."""

    target: str


@dataclass(frozen=True, slots=True)
class Load:
    """A target's load, as the orchestrator sees it.

    Attributes:
        waiting: Ready tasks waiting for an agent of it with room.
        oldest_wait: Seconds the longest-waiting of them has waited (0 if none).
        in_flight: Its agents' attempts in flight (given-up ones still out there too).
    """

    waiting: int
    oldest_wait: float
    in_flight: dict[str, int] = field(default_factory=dict)


class Membership(Dispatching):
    """Agents join and leave the router while workflows run.

    A joining agent takes waiting work at once; a leaving one leaves only when it runs
    nothing (no attempt in flight, none given up on still out there), so no attempt is
    lost, and no attempt is routed to it after. Each change is published
    (:class:`bus.AgentJoined`, :class:`bus.AgentLeft`), which is how a protocol check
    knows a member that joined after its workflow started is declared.
    """

    agents: frozenset[str]

    def _membership(self, message: Join | Leave | Backlog) -> object:
        if isinstance(message, Backlog):
            waiting, oldest = self._waiting_room.backlog(message.target)
            members = self._router.members(message.target)
            return Load(waiting, oldest, {a: self._router.in_flight(a) for a in members})
        if isinstance(message, Join):
            self._router.join(message.agent, message.capabilities)
            self.agents = self.agents | {message.agent}
            self._bus.publish(
                AgentJoined(
                    source=self.name,
                    agent=message.agent,
                    capabilities=sorted(message.capabilities),
                )
            )
            if self._waiting_room:
                self._drain()
            return None
        if not self._router.leave(message.agent):
            return False
        self.agents = self.agents - {message.agent}
        self._bus.publish(AgentLeft(source=self.name, agent=message.agent))
        return True
