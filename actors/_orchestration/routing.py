"""Which agent runs an attempt: by name or capability, least loaded, circuits closed."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping

from actors._errors import ConfigurationError

from .circuit_breaker import AgentHealth, CircuitBreaker

__all__ = ["AgentRouter"]


class AgentRouter:
    """Chooses the agent for each attempt; the orchestrator's only source of that choice.

    A task names an agent or a capability. For a capability, the agents that have it are
    candidates, least loaded (fewest attempts in flight) first, in declaration order on
    ties. For an agent, it is the candidate, and agents sharing one of its capabilities
    are its fallbacks. Agents whose circuit is open are skipped while another candidate
    is available; if none is, the least recently opened one is tried anyway.

    Args:
        agents: Declared agent names, in order.
        capabilities: Agent name → capabilities it has (names must not clash with agents).
        breaker: The circuit-breaker rule.
        clock: Monotonic clock in seconds (for tests).

    Raises:
        ConfigurationError: A capability shares a name with an agent, or an unknown agent
            has capabilities.
    """

    def __init__(
        self,
        agents: Collection[str],
        capabilities: Mapping[str, Collection[str]] | None = None,
        breaker: CircuitBreaker | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.agents = tuple(agents)
        self.breaker = breaker or CircuitBreaker()
        self._clock = clock
        self._health = {a: AgentHealth() for a in self.agents}
        self._by_capability: dict[str, list[str]] = {}
        self._capabilities: dict[str, frozenset[str]] = {}
        for agent, caps in (capabilities or {}).items():
            if agent not in self._health:
                msg = f"Capabilities given for unknown agent {agent!r}; declare it first."
                raise ConfigurationError(msg)
            self._capabilities[agent] = frozenset(caps)
            for cap in caps:
                if cap in self._health:
                    msg = f"Capability {cap!r} has the name of an agent; rename one of them."
                    raise ConfigurationError(msg)
                self._by_capability.setdefault(cap, []).append(agent)
        self._fallbacks: dict[str, tuple[str, ...]] = {}
        self._index_fallbacks()

    def _index_fallbacks(self) -> None:
        """Agents sharing a capability with an agent, in declaration order."""
        self._fallbacks = {
            agent: tuple(
                a
                for a in self.agents
                if a != agent and self._capabilities.get(a, frozenset()) & caps
            )
            for agent, caps in self._capabilities.items()
        }

    def join(self, agent: str, capabilities: Collection[str]) -> None:
        """Add ``agent`` (a new pool member, say), with ``capabilities``, to the candidates.

        Raises:
            ConfigurationError: The name is taken, or a capability is an agent's name.
        """
        caps = frozenset(capabilities)
        if agent in self._health or agent in self._by_capability:
            msg = f"An agent or capability named {agent!r} is routed to already."
            raise ConfigurationError(msg)
        clash = sorted(caps & self._health.keys())
        if clash:
            msg = f"Capabilities {clash} of {agent!r} have the names of agents; rename them."
            raise ConfigurationError(msg)
        self.agents = (*self.agents, agent)
        self._health[agent] = AgentHealth()
        if caps:
            self._capabilities[agent] = caps
        for cap in sorted(caps):
            self._by_capability.setdefault(cap, []).append(agent)
        self._index_fallbacks()

    def leave(self, agent: str) -> bool:
        """Remove ``agent`` if it runs nothing (no attempt in flight or given up on).

        Returns:
            Whether it was removed: after that, no attempt is routed to it.
        """
        health = self._health.get(agent)
        if health is None or health.in_flight or health.stuck:
            return False
        del self._health[agent]
        self.agents = tuple(a for a in self.agents if a != agent)
        for cap in self._capabilities.pop(agent, frozenset()):
            members = self._by_capability[cap]
            members.remove(agent)
            if not members:
                del self._by_capability[cap]
        self._index_fallbacks()
        return True

    @property
    def names(self) -> frozenset[str]:
        """Everything a task may name: agents and capabilities."""
        return frozenset(self._health) | frozenset(self._by_capability)

    def members(self, target: str) -> tuple[str, ...]:
        """The agents with capability ``target``, or agent ``target`` alone; ``()``: none."""
        if target in self._by_capability:
            return tuple(self._by_capability[target])
        return (target,) if target in self._health else ()

    def in_flight(self, agent: str) -> int:
        """Attempts running on ``agent`` now."""
        return self._health[agent].in_flight

    def has_capacity(self, target: str, limit: int | None, count: int = 1) -> bool:
        """Whether ``count`` agents that could take ``target``'s next attempt are free enough.

        Free enough: fewer than ``limit`` attempts in flight (``None``: any number), and
        no attempt given up on that has not come back (a retry must not queue behind
        an attempt known to be stuck). The candidates are those of :meth:`choose`: the
        agents with capability ``target``, or agent ``target`` and its fallbacks; a
        ``count`` above their number asks for all of them.
        """
        health = self._health.get(target)
        if count == 1 and health is not None and _free(health, limit):
            return True
        candidates = self._by_capability.get(target) or self._fallbacks.get(target, ())
        agents = {target, *candidates} & self._health.keys()
        # More than there are: as many as there are (the dispatch then fails, undeliverable).
        return sum(_free(self._health[a], limit) for a in agents) >= min(count, len(agents))

    def is_open(self, agent: str) -> bool:
        """Whether ``agent``'s circuit is open (not counting a due probe)."""
        return self._health[agent].is_open(self._clock(), self.breaker)

    def choose(self, target: str) -> str:
        """The agent for the next attempt of a task naming ``target``.

        Raises:
            ConfigurationError: ``target`` is neither an agent nor a capability.
        """
        health = self._health.get(target)
        if health is not None and health.opened_at is None and target not in self._capabilities:
            return target  # the common case: a named agent, healthy, with no fallbacks
        if target in self._by_capability:
            candidates = sorted(
                self._by_capability[target], key=lambda a: self._health[a].in_flight
            )
        elif target in self._health:
            fallbacks = sorted(
                self._fallbacks.get(target, ()), key=lambda a: self._health[a].in_flight
            )
            candidates = [target, *fallbacks]
        else:
            msg = f"{target!r} is neither a declared agent nor a capability."
            raise ConfigurationError(msg)
        for agent in candidates:
            health = self._health[agent]
            if health.opened_at is None:
                return agent
            if health.probe_due(self._clock(), self.breaker):
                health.probing = True
                return agent
        # Every candidate's circuit is open: try the one open longest rather than stall.
        return min(candidates, key=lambda a: self._health[a].opened_at or 0.0)

    def started(self, agent: str) -> None:
        """An attempt was sent to ``agent``."""
        self._health[agent].in_flight += 1

    def candidates(self, target: str) -> tuple[str, ...]:
        """The agents ``target``'s attempts may go to, in declaration order.

        Those with capability ``target``, or agent ``target`` and its fallbacks.

        Raises:
            ConfigurationError: ``target`` is neither an agent nor a capability.
        """
        if target in self._by_capability:
            return tuple(self._by_capability[target])
        if target in self._health:
            return (target, *self._fallbacks.get(target, ()))
        msg = f"{target!r} is neither a declared agent nor a capability."
        raise ConfigurationError(msg)

    def spread(self, target: str, count: int, needed: int, limit: int | None) -> tuple[str, ...]:
        """Up to ``count`` distinct agents for the replicas of an attempt of ``target``.

        Only agents free enough (see :meth:`has_capacity`): those with a closed circuit
        or one due a probe (which then goes out), least loaded first, then in
        declaration order; if fewer than ``needed``, agents whose circuit is open make
        up the number, the least recently opened first. Fewer than ``needed`` only when
        fewer are free.
        """
        now, healthy, opened = self._clock(), [], []
        for order, agent in enumerate(self.candidates(target)):
            health = self._health[agent]
            if not _free(health, limit):
                continue
            if health.opened_at is None or health.probe_due(now, self.breaker):
                healthy.append((health.in_flight, order, agent))
            else:
                opened.append((health.opened_at, order, agent))
        chosen = [agent for *_, agent in sorted(healthy)[:count]]
        chosen += [agent for *_, agent in sorted(opened)[: max(0, needed - len(chosen))]]
        for agent in chosen:
            if self._health[agent].opened_at is not None:
                self._health[agent].probing = True
        return tuple(chosen)

    def given_up(self, agent: str, *, failure: bool = True) -> None:
        """An attempt on ``agent`` was given up on: a failure for the breaker, if ``failure``.

        It may still be running there, so ``agent`` takes no more work until
        :meth:`returned`.
        """
        health = self._health[agent]
        health.stuck += 1
        if failure:
            health.record(ok=False, now=self._clock(), rule=self.breaker)

    def returned(self, agent: str) -> None:
        """An attempt given up on came back from ``agent`` (or ``agent`` restarted)."""
        health = self._health[agent]
        health.stuck = max(0, health.stuck - 1)
        health.in_flight = max(0, health.in_flight - 1)

    def finished(self, agent: str, *, ok: bool | None) -> None:
        """An attempt on ``agent`` ended: succeeded, failed, or neither (``None``)."""
        health = self._health[agent]
        health.in_flight = max(0, health.in_flight - 1)
        if ok is not None:
            health.record(ok=ok, now=self._clock(), rule=self.breaker)


def _free(health: AgentHealth, limit: int | None) -> bool:
    return health.stuck == 0 and (limit is None or health.in_flight < limit)
