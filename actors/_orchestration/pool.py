"""Elastic agent pools: instances of one agent that grow under load and shrink when idle."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from actors._actor import Actor
from actors._errors import ConfigurationError
from actors._metrics import Instruments
from actors._supervision.child_spec import ChildSpec
from actors._supervision.dynamic import DynamicSupervisor
from actors._supervision.supervisor import Supervisor
from actors._timers import TIMERS, TimerHandle
from bus import EventBus, Telemetry

from .membership import Backlog, Join, Leave, Load

__all__ = ["AgentPool", "PoolController"]


@dataclass(frozen=True, slots=True)
class AgentPool:
    """Several instances of one agent, as many as the load needs, within bounds.

    Give it to :class:`actors.Team` beside the agents' child specs. Tasks name the
    pool (a capability): each attempt goes to the least loaded member. Members are
    ``<name>.<n>``, children of a :class:`DynamicSupervisor` (``<name>.members``)
    restarted one_for_one, started from ``template``. The pool's controller looks at
    the orchestrator's waiting room every ``interval`` seconds: when the task waiting
    longest for a member has waited ``scale_up_after`` seconds, it starts as many
    members as tasks wait (up to ``max_size``); a member idle for ``scale_down_after``
    seconds, while nothing waits, leaves (down to ``min_size``) — only when it runs
    nothing, so no attempt in flight is lost. Tasks wait in the waiting room only while
    every member has ``Limits.max_in_flight`` attempts: set it low (1: one attempt per
    member at a time) for the pool to see its load. Each change is a
    :class:`bus.AgentJoined` or :class:`bus.AgentLeft` event and moves the
    ``actorchestra.pool.size`` metric; tasks' waits are the
    ``actorchestra.orchestrator.queue_wait`` histogram.

    Attributes:
        name: The pool's name: what tasks name, the members' prefix.
        template: Builds a member's child spec from its id (``"<name>.<n>"``), e.g.
            ``lambda member: Analyst.child_spec(member, bus)``.
        min_size: Members at least (≥ 1), started with the team.
        max_size: Members at most.
        scale_up_after: Seconds a task may wait for a member before the pool grows.
        scale_down_after: Seconds a member stays idle before it leaves.
        interval: Seconds between two looks at the load.
        description: What the pool's agents do (shown to a planner).

    Raises:
        ConfigurationError: ``1 <= min_size <= max_size`` does not hold, or a time is
            not > 0.
    """

    name: str
    template: Callable[[str], ChildSpec]
    min_size: int = 1
    max_size: int = 8
    scale_up_after: float = 0.05
    scale_down_after: float = 2.0
    interval: float = 0.02
    description: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.min_size <= self.max_size:
            msg = f"{self!r}: need 1 <= min_size <= max_size."
            raise ConfigurationError(msg)
        if min(self.scale_up_after, self.scale_down_after, self.interval) <= 0:
            msg = f"{self!r}: scale_up_after, scale_down_after and interval must be > 0 s."
            raise ConfigurationError(msg)

    def member(self, number: int) -> str:
        """The id of member ``number`` (from 1)."""
        return f"{self.name}.{number}"

    def child_specs(
        self, bus: EventBus, telemetry: Telemetry, orchestrator: str
    ) -> list[ChildSpec]:
        """The pool's supervisor (with its first ``min_size`` members) and controller."""
        members = ChildSpec(
            id=f"{self.name}.members",
            start=lambda: DynamicSupervisor.start(
                name=f"{self.name}.members",
                bus=bus,
                template=self.template,
                max_children=self.max_size,
                children=[self.template(self.member(n)) for n in range(1, self.min_size + 1)],
                telemetry=telemetry,
            ),
        )
        controller = ChildSpec(
            id=f"{self.name}.controller",
            start=lambda: PoolController.start(
                pool=self, bus=bus, telemetry=telemetry, orchestrator=orchestrator
            ),
        )
        return [members, controller]


@dataclass(frozen=True, slots=True)
class _Tick:
    pass


class PoolController(Actor):
    """Grows and shrinks one :class:`AgentPool` by the orchestrator's view of its load."""

    def __init__(
        self, *, pool: AgentPool, bus: EventBus, telemetry: Telemetry, orchestrator: str
    ) -> None:
        super().__init__(name=f"{pool.name}.controller", bus=bus)
        self.pool = pool
        self._bus = bus
        self._orchestrator = orchestrator
        self._metrics = Instruments.of_telemetry(telemetry)
        self._timer: TimerHandle | None = None
        self._idle_since: dict[str, float] = {}
        self._numbers = 0
        self._members: list[str] = []

    def on_start(self) -> None:
        """Count the members already running (all of them, after a restart); start ticking."""
        members = self._supervisor()
        running = [c.id for c in Supervisor.tree(members)] if members is not None else []
        self._members = running
        self._numbers = max((int(m.rsplit(".", 1)[1]) for m in running), default=0)
        self._metrics.pool_size.add(len(running), {"actorchestra.pool": self.pool.name})
        self._schedule()

    def on_stop(self) -> None:
        """Stop ticking."""
        if self._timer is not None:
            self._timer.cancel()
        self._metrics.pool_size.add(-len(self._members), {"actorchestra.pool": self.pool.name})

    def on_message(self, message: Any) -> Any:  # noqa: ANN401
        """Look at the load and resize on every tick."""
        if isinstance(message, _Tick):
            try:
                self._resize()
            finally:
                self._schedule()
            return None
        return super().on_message(message)

    def _schedule(self) -> None:
        def tell() -> None:  # in the timer thread
            with contextlib.suppress(pykka.ActorDeadError):
                self.actor_ref.tell(_Tick())

        self._timer = TIMERS.call_later(self.pool.interval, tell)

    def _resize(self) -> None:
        orchestrator = self._bus.lookup(self._orchestrator)
        members = self._supervisor()
        if orchestrator is None or members is None:
            return  # restarting: look again next tick
        load: Load = orchestrator.ask(Backlog(self.pool.name), block=True, timeout=5.0)
        now = time.monotonic()
        for member in self._members:
            if load.in_flight.get(member, 0) or load.waiting:
                self._idle_since[member] = now
        if load.waiting and load.oldest_wait >= self.pool.scale_up_after:
            room = self.pool.max_size - len(self._members)
            for _ in range(min(room, load.waiting)):
                self._numbers += 1
                member = self.pool.member(self._numbers)
                DynamicSupervisor.start_instance(members, member)
                orchestrator.ask(Join(member, frozenset({self.pool.name})), block=True, timeout=5.0)
                self._joined(member, now)
            return
        for member in reversed(self._members):
            if len(self._members) <= self.pool.min_size:
                return
            idle_for = now - self._idle_since.get(member, now)
            if idle_for < self.pool.scale_down_after:
                continue
            if orchestrator.ask(Leave(member), block=True, timeout=5.0):
                Supervisor.terminate_child(members, member)
                self._left(member)

    def _joined(self, member: str, now: float) -> None:
        self._members.append(member)
        self._idle_since[member] = now
        self._metrics.pool_size.add(1, {"actorchestra.pool": self.pool.name})

    def _left(self, member: str) -> None:
        self._members.remove(member)
        self._idle_since.pop(member, None)
        self._metrics.pool_size.add(-1, {"actorchestra.pool": self.pool.name})

    def _supervisor(self) -> pykka.ActorRef[Any] | None:
        return self._bus.lookup(f"{self.pool.name}.members")
