"""NatsTransport: the bus's events between processes and hosts, over NATS JetStream.

What it guarantees (NATS docs, "JetStream" and "Consumers"):

* **At-least-once delivery.** Every message is stored in the stream before the sender
  counts it sent (a JetStream publish waits for the server's acknowledgement); a
  ``TaskStarted`` is acknowledged by the process that took it only when the attempt's
  outcome is stored in turn (see ``bus._nats_work``), so a process killed mid-task
  leaves it to be redelivered, after the consumer's ``ack_wait``, to another process
  serving that agent.
* **Order per publisher and subscriber**: one sender task per process publishes in
  order (a publish retried after an outage may land after later ones), and each
  process takes a name's messages in stream order.
* **Dead letters**: a poison message becomes a ``DeadLetter`` (``bus._nats_dead_letters``).
* **Bounded everything**: the queue of messages waiting to be published
  (``max_pending``; a publisher waits up to ``backpressure_timeout`` seconds for room,
  else the event is a dead letter), the attempts in progress here (``max_in_flight``),
  reconnection (``reconnect_attempts`` every ``reconnect_wait`` seconds), each
  publish's retries (``outage_timeout`` seconds), and shutdown (``drain_timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ._bus import EventBus
from ._cloudevents import write_cloudevent
from ._envelope import Envelope
from ._errors import ConfigurationError, OperationalError
from ._event import Event
from ._nats_connection import Credentials, connect
from ._nats_counters import Counters, PoolStatistics, TransportStatistics
from ._nats_dead_letters import DeadLetterOffice
from ._nats_inbox import Inbox
from ._nats_loop import LoopThread
from ._nats_outbox import Outbox
from ._nats_streams import add_consumer, add_stream, ensure_stream
from ._nats_subjects import Subjects
from ._remote_address_book import RemoteAddressBook
from ._task_events import CancelRequested

if TYPE_CHECKING:
    from nats.js import JetStreamContext
    from nats.js.api import StreamConfig

__all__ = ["NatsTransport", "PoolStatistics", "TransportError", "TransportStatistics"]

T = TypeVar("T")

logger = logging.getLogger(__name__)


class TransportError(OperationalError):
    """The transport could not do its job: NATS unreachable at start, or a setup refused."""


class NatsTransport:
    """Carries events between the processes of a team, over NATS JetStream.

    One transport per process. :meth:`bus` makes this process's :class:`EventBus`:
    events for actor names that are not bound here go to JetStream, and :meth:`serve`
    takes the messages for the names bound here. Several processes serving the same
    name share its consumer: a pool, each message taken by one of them.

    Args:
        servers: NATS URL(s), e.g. ``"nats://127.0.0.1:4222"``.
        namespace: Separates teams on one server (see ``bus._nats_subjects``).
        user: User name, with ``password``; or ``token``; or ``credentials`` (a
            ``.creds`` file): how this process authenticates (NATS docs,
            "Authentication"), so the server's permissions apply to it.
        password: The user's password.
        token: An authentication token.
        credentials: Path of a NATS credentials file (JWT and NKey seed).
        connection_name: Shown in the server's monitoring.
        ack_wait: Seconds the server waits for an acknowledgement (or an in-progress
            signal, sent every third of it) before redelivering.
        max_deliver: Deliveries of one message before it becomes a dead letter.
        max_pending: Messages waiting to be published, at most.
        max_in_flight: Attempts in progress in this process, at most (a pool's member
            takes no more).
        max_in_progress: Seconds an attempt without a timeout keeps its message.
        backpressure_timeout: Seconds a publisher waits for room in the outbox.
        outage_timeout: Seconds a publish is retried (e.g. while the server restarts).
        connect_timeout: Seconds to reach the server at start.
        reconnect_attempts: Reconnections tried after losing the server (each
            ``reconnect_wait`` seconds apart) before the transport gives up.
        reconnect_wait: Seconds between reconnection attempts.
        provision: Create the stream (and the consumers of served names) if missing;
            ``False`` for processes whose credentials may not (see :meth:`provision`).

    Raises:
        TransportError: NATS is unreachable (the message names the URL), or the
            stream could not be created.
        ConfigurationError: A bad ``namespace``.
    """

    def __init__(
        self,
        servers: str | Sequence[str] = "nats://127.0.0.1:4222",
        *,
        namespace: str = "actorchestra",
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        credentials: str | Path | None = None,
        connection_name: str | None = None,
        ack_wait: float = 30.0,
        max_deliver: int = 5,
        max_pending: int = 1000,
        max_in_flight: int = 64,
        max_in_progress: float = 3600.0,
        backpressure_timeout: float = 5.0,
        outage_timeout: float = 60.0,
        connect_timeout: float = 5.0,
        reconnect_attempts: int = 120,
        reconnect_wait: float = 0.5,
        provision: bool = True,
    ) -> None:
        self.subjects = Subjects(namespace)
        self.servers = [servers] if isinstance(servers, str) else list(servers)
        self.ack_wait, self.max_deliver, self.max_in_flight = ack_wait, max_deliver, max_in_flight
        self._max_in_progress = max_in_progress
        self._provision = provision
        self._counters = Counters()
        self._bus: EventBus | None = None
        self._inbox: Inbox | None = None
        self._served: set[str] = set()
        self._closed = False
        self._loop = LoopThread(f"actorchestra-nats-{namespace}")
        login = Credentials(user, password, token, credentials)
        try:
            self._nc = self._loop.call(
                connect(
                    self.servers,
                    login,
                    self._counters,
                    name=connection_name,
                    timeout=connect_timeout,
                    reconnect_attempts=reconnect_attempts,
                    reconnect_wait=reconnect_wait,
                ),
                connect_timeout * 2 + 5,
            )
        except Exception as exc:
            self._loop.stop()
            where = ", ".join(self.servers)
            msg = f"Cannot connect to NATS at {where}: {type(exc).__name__}: {exc}"
            raise TransportError(msg) from None
        self._js = self._nc.jetstream()
        self._office = DeadLetterOffice(self._nc, self._js, self.subjects, self._counters)
        try:
            if provision:
                self._loop.call(add_stream(self._js, self.subjects), 10)
        except Exception as exc:
            self.close(drain_timeout=0)
            msg = f"Cannot set up JetStream ({self.subjects.stream!r}): {exc}"
            raise TransportError(msg) from None
        self._outbox = Outbox(
            self._loop,
            self._nc,
            self._js,
            self.subjects,
            self._counters,
            size=max_pending,
            backpressure_timeout=backpressure_timeout,
            outage_timeout=outage_timeout,
            stored=self._stored,
            failed=self._office.post,
        )

    # -- the bus side -----------------------------------------------------------------

    def bus(self, **options: Any) -> EventBus:  # noqa: ANN401 - EventBus's keyword arguments
        """This process's bus, delivering to other processes through this transport.

        Args:
            options: :class:`EventBus` keyword arguments (not ``address_book``).

        Raises:
            ConfigurationError: Called twice (one bus per transport).
        """
        if self._bus is not None:
            msg = "A NatsTransport carries one bus; it has one already."
            raise ConfigurationError(msg)
        self._book = RemoteAddressBook(self.send)
        self._bus = EventBus(address_book=self._book, **options)
        self._office.bus = self._bus
        if self._bus.tracing:
            self._outbox.tracer = self._bus.telemetry.tracer("actorchestra.nats")
        return self._bus

    def reach(self, names: Collection[str]) -> None:
        """Declare ``names`` served by other processes, reached through this transport.

        What the bus here cannot deliver to other unbound names is a dead letter.

        Raises:
            ConfigurationError: :meth:`bus` was not called yet.
        """
        if self._bus is None:
            msg = "Call NatsTransport.bus() before reach()."
            raise ConfigurationError(msg)
        self._book.reach(names)

    def provision(self, names: Collection[str]) -> None:
        """Create the consumers of ``names`` (for workers whose credentials may not).

        Raises:
            TransportError: The server refused or did not answer in 10 s.
        """
        try:
            for name in names:
                self._loop.call(
                    add_consumer(self._js, self.subjects, name, self.ack_wait, self.max_deliver),
                    10,
                )
        except Exception as exc:
            msg = f"Cannot create the consumers of {sorted(names)}: {exc}"
            raise TransportError(msg) from None

    def watch_dead_letters(self) -> None:
        """Turn max-deliveries advisories into dead letters on this process's bus.

        The orchestrator's process does (:class:`actors.Team` calls it): there the
        orchestrator retries or fails the task of a message no process could take. The
        processes that call it share the advisories (a queue group). Needs the right to
        subscribe to ``$JS.EVENT.ADVISORY.>``.

        Raises:
            TransportError: The subscription was refused or not answered in 10 s.
        """
        try:
            self._loop.call(self._office.watch(), 10)
        except Exception as exc:
            msg = f"Cannot watch max-deliveries advisories: {exc}"
            raise TransportError(msg) from None

    def serve(self, names: Collection[str], *, prefetch: int = 16) -> None:
        """Take the messages for ``names`` (actors bound on :meth:`bus`) from JetStream.

        Args:
            names: Names bound to actors of this process's bus.
            prefetch: Attempts (``TaskStarted``) of one name held here at most, and the
                largest batch fetched: 1 for an agent (it runs one attempt at a time,
                and the rest of its pool takes the others), more for names that take
                many small events (an orchestrator's outcomes).

        Raises:
            ConfigurationError: :meth:`bus` was not called yet.
            TransportError: A consumer could not be created or read.
        """
        if self._bus is None:
            msg = "Call NatsTransport.bus() before serve(): received events go to that bus."
            raise ConfigurationError(msg)
        if self._provision:
            self.provision(names)
        if self._inbox is None:
            self._inbox = Inbox(
                self._nc,
                self._bus,
                self.subjects,
                self._counters,
                ack_wait=self.ack_wait,
                max_in_flight=self.max_in_flight,
                max_in_progress=self._max_in_progress,
            )
        for name in set(names) - self._served:
            try:
                self._loop.call(self._inbox.serve(self._js, name, prefetch), 10)
            except Exception as exc:
                msg = f"Cannot take messages for {name!r}: {type(exc).__name__}: {exc}"
                raise TransportError(msg) from None
            self._served.add(name)

    # -- the connection, for stores on the same connection (memory's JetStream stores) --

    @property
    def jetstream(self) -> JetStreamContext:
        """nats-py's JetStream context of this connection; use it in :meth:`call` only."""
        return self._js

    async def ensure_stream(self, config: StreamConfig) -> None:
        """Create the stream ``config`` describes, unless it exists (then it is kept as is).

        A coroutine for :meth:`call`, for stores of their own streams on this connection.

        Raises:
            nats.errors.Error: The server refused (other than "it exists") or did not answer.
        """
        await ensure_stream(self._js, config)

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coroutine`` on this transport's event loop and wait for its result.

        Raises:
            TimeoutError: No result within ``timeout`` seconds (it is cancelled).
            RuntimeError: Called from the loop's own thread (use :meth:`spawn` there).
        """
        return self._loop.call(coroutine, timeout)

    def spawn(self, coroutine: Coroutine[Any, Any, object], what: str) -> None:
        """Run ``coroutine`` on the loop without waiting; a failure is logged as ``what``."""
        self._loop.spawn(coroutine, what)

    def in_loop(self) -> bool:
        """Whether the caller runs on this transport's event-loop thread."""
        return self._loop.in_loop()

    def send(self, name: str, envelope: Envelope[Event]) -> str | None:
        """Queue ``envelope`` for the process that serves ``name``; from any thread.

        A ``CancelRequested`` goes at once to every process serving ``name`` (core NATS,
        at most once: the attempt's timeout covers a lost one), whichever runs the attempt.

        Returns:
            ``None`` once queued; why not otherwise (closed, or no room in the outbox
            within ``backpressure_timeout`` seconds).
        """
        if isinstance(envelope.event, CancelRequested):  # to every member of the pool
            payload, headers = write_cloudevent(envelope)
            subject = self.subjects.control(name)
            self._loop.spawn(self._nc.publish(subject, payload, headers=headers), subject)
            return None
        return self._outbox.put(name, envelope)

    async def _stored(self, event: Event) -> None:
        if self._inbox is not None:  # an attempt's outcome stored: its task is done here
            await self._inbox.ended(event)

    # -- statistics and shutdown ------------------------------------------------------

    def statistics(self) -> TransportStatistics:
        """A snapshot of the counters (see :class:`TransportStatistics`)."""
        counters = self._counters
        return TransportStatistics(
            sent=counters.sent,
            received=counters.received,
            redelivered=counters.redelivered,
            handed_back=counters.handed_back,
            dead_letters=counters.dead_letters,
            publish_retries=counters.publish_retries,
            reconnects=counters.reconnects,
            outbox=len(self._outbox),
            in_progress=0 if self._inbox is None else len(self._inbox.work),
        )

    def pool(self, name: str) -> PoolStatistics:
        """The queue of ``name`` as the server sees it (see :class:`PoolStatistics`).

        Raises:
            TransportError: No such consumer, or no answer within 5 s.
        """
        try:
            info = self._loop.call(
                self._js.consumer_info(self.subjects.stream, self.subjects.consumer(name)), 5
            )
        except Exception as exc:
            msg = f"No statistics for {name!r}: {type(exc).__name__}: {exc}"
            raise TransportError(msg) from None
        return PoolStatistics(
            name=name,
            waiting=info.num_pending or 0,
            in_progress=info.num_ack_pending or 0,
            redelivered=info.num_redelivered or 0,
            idle_requests=info.num_waiting or 0,
        )

    def close(self, drain_timeout: float = 10.0) -> None:
        """Stop taking messages, let attempts in progress end, then disconnect.

        Attempts still running after ``drain_timeout`` seconds are handed back (nak):
        the server gives them to another process of the pool at once. Messages waiting
        in the outbox are published first, within the same time. Idempotent.
        """
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._loop.call(self._drain(drain_timeout), drain_timeout + 10)
        self._loop.stop()

    async def _drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if self._inbox is not None:
            await self._inbox.drain(deadline)
        outbox = getattr(self, "_outbox", None)
        while outbox is not None and len(outbox) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if outbox is not None:
            outbox.closed = True
        with contextlib.suppress(Exception):  # our own work is drained: flush and close
            await asyncio.wait_for(self._nc.flush(), 2)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._nc.close(), 5)
