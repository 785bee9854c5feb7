"""Workers: processes that host a team's agents while its orchestrator runs elsewhere.

A :class:`Worker` starts agents under a supervisor (as a :class:`actors.Team` does) on
the bus of a transport (e.g. :class:`bus.NatsTransport`), takes their work from it and
sends their outcomes back to the orchestrator's process. Several workers serving the
same agent name form a pool: each task goes to one of them, and a worker that dies
mid-task leaves it to another. ``python -m actors.worker`` runs one from the command
line (see ``actors/worker/__main__.py``).

This package is a floor above ``actors._agents``: it may import anything below it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Collection, Sequence
from types import TracebackType
from typing import Self

import pykka

from actors._errors import ConfigurationError
from actors._orchestration.remote import ORCHESTRATOR_INBOX, Transport
from actors._supervision.child_spec import ChildSpec
from actors._supervision.supervisor import Supervisor
from bus import EventBus, Telemetry

__all__ = ["AgentFactory", "Worker"]

AgentFactory = Callable[[EventBus], Sequence[ChildSpec]]
"""Makes a worker's agents' child specs on the bus it is given."""


class Worker:
    """Agents of a team in this process, serving an orchestrator in another.

    Args:
        agents: A factory of child specs (:data:`AgentFactory`), called with this
            worker's bus; or child specs made on ``bus``.
        transport: Carries work in and outcomes out (e.g. :class:`bus.NatsTransport`);
            the worker closes it in :meth:`stop`.
        bus: The transport's bus, if it was made already; ``transport.bus()`` if ``None``.
        name: Name of the supervisor of the agents is ``<name>.agents``.
        max_restarts: Restart intensity of that supervisor (OTP).
        period: Its window, in seconds.
        telemetry: Where spans and metrics go (when the bus is made here).
        orchestrator: The orchestrator's name (a :class:`actors.Team`'s is
            ``"orchestrator"``).
        reach: Other names, served by other processes, that these agents send events
            to (e.g. the next stage of a pipeline); the rest stay in this process.

    Raises:
        ConfigurationError: No agents.

    Example:
        >>> worker = Worker(my_agents, transport=NatsTransport(url))  # doctest: +SKIP
        >>> worker.run()  # until SIGTERM or SIGINT, then a graceful drain  # doctest: +SKIP
    """

    def __init__(
        self,
        agents: AgentFactory | Sequence[ChildSpec],
        *,
        transport: Transport,
        bus: EventBus | None = None,
        name: str = "worker",
        max_restarts: int = 3,
        period: float = 5.0,
        telemetry: Telemetry | None = None,
        orchestrator: str = "orchestrator",
        reach: Collection[str] = (),
    ) -> None:
        self.transport = transport
        self.bus = bus if bus is not None else transport.bus(telemetry=telemetry or Telemetry())
        specs = list(agents(self.bus) if callable(agents) else agents)
        if not specs:
            msg = "A Worker needs at least one agent child spec."
            raise ConfigurationError(msg)
        self.agents = [spec.id for spec in specs]
        transport.reach([orchestrator, *reach])  # outcomes go to the orchestrator's process
        for event_type in ORCHESTRATOR_INBOX:
            self.bus.subscribe(event_type, orchestrator)
        self.supervisor: pykka.ActorRef[Supervisor] = Supervisor.start(
            name=f"{name}.agents",
            bus=self.bus,
            children=specs,
            max_restarts=max_restarts,
            period=period,
            telemetry=telemetry,
        )
        self._stopped = threading.Event()
        transport.serve(self.agents, prefetch=1)  # an agent takes its next task when free

    def run(self) -> None:
        """Serve until SIGTERM or SIGINT (or :meth:`stop` from another thread), then stop.

        Call it from the main thread (signal handlers are set there).
        """
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self._stopped.set())
        self._stopped.wait()
        self.stop()

    def stop(self, drain_timeout: float = 10.0) -> None:
        """Stop taking work, let attempts in progress end, then stop the agents.

        Attempts still running after ``drain_timeout`` seconds are handed back to the
        pool (another worker takes them at once).
        """
        self._stopped.set()
        close = getattr(self.transport, "close", None)
        if close is not None:
            close(drain_timeout)
        with contextlib.suppress(Exception):
            Supervisor.stop_within(self.supervisor, 10.0)
        self.bus.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
