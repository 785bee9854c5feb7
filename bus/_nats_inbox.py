"""The inbox: messages for the names this process serves, taken from their consumers.

One task per served name fetches from its durable pull consumer (shared by the pool),
at most ``max_in_flight`` attempts in progress here at a time, and hands each message to
the bus (:meth:`bus.EventBus.receive`). A message the bus could not deliver is handed
back (nak) for another process; a ``TaskStarted`` is held until its attempt's outcome is
stored (see ``bus._nats_work``); anything else is acknowledged once delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING

import nats.errors

from ._cloudevents import read_cloudevent
from ._errors import EventValidationError
from ._event import Event
from ._nats_counters import Counters
from ._nats_work import PendingWork
from ._task_events import TaskStarted

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext

    from ._bus import EventBus
    from ._nats_subjects import Subjects

__all__ = ["Inbox", "quietly"]

logger = logging.getLogger(__name__)

_FETCH_WAIT = 1.0  # seconds a fetch waits for messages (also how soon a loop sees close)
_BATCH = 16  # messages one fetch asks for, at most


class Inbox:
    """The fetching tasks of the served names, and the attempts held here."""

    def __init__(
        self,
        nc: Client,
        bus: EventBus,
        subjects: Subjects,
        counters: Counters,
        *,
        ack_wait: float,
        max_in_flight: int,
        max_in_progress: float,
    ) -> None:
        self._nc, self._bus, self._subjects, self._counters = nc, bus, subjects, counters
        self._ack_wait, self._max_in_flight = ack_wait, max_in_flight
        self._max_in_progress = max_in_progress
        self.work = PendingWork()
        self._freed = asyncio.Event()  # an attempt held here ended: room to fetch again
        self._tasks: list[asyncio.Task[None]] = []  # the fetch loops
        self._keeping_alive: asyncio.Task[None] | None = None
        self.closing = False

    async def serve(self, js: JetStreamContext, name: str, prefetch: int) -> None:
        """Bind ``name``'s consumer and start fetching from it (in the loop).

        At most ``prefetch`` of ``name``'s attempts are held here at a time: an agent
        runs one attempt at a time, so a worker that took more would keep them from
        the idle members of its pool.

        Raises:
            nats.errors.Error: The consumer does not exist or may not be read.
        """
        subscription = await js.pull_subscribe_bind(
            durable=self._subjects.consumer(name), stream=self._subjects.stream
        )
        await self._nc.subscribe(self._subjects.control(name), cb=self._on_control)
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._fetch_forever(name, subscription, prefetch)))
        if self._keeping_alive is None:
            self._keeping_alive = loop.create_task(self._keep_alive())

    async def _fetch_forever(
        self, name: str, subscription: JetStreamContext.PullSubscription, prefetch: int
    ) -> None:
        pause = 0.05
        while not self.closing:
            room = min(self._max_in_flight - len(self.work), prefetch - self.work.held_for(name))
            if room <= 0:  # wait for an attempt to end (bounded: expiries free room too)
                self._freed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._freed.wait(), self._ack_wait / 3)
                continue
            try:
                messages = await subscription.fetch(min(room, _BATCH), timeout=_FETCH_WAIT)
            except TimeoutError:
                continue
            except nats.errors.Error as exc:  # disconnected: wait for the reconnection
                logger.debug("Fetching for %s: %s", name, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)
                continue
            pause = 0.05
            for message in messages:
                await self._take(name, message)

    async def _take(self, name: str, message: Msg) -> None:
        try:
            envelope = read_cloudevent(message.data, message.headers)
        except EventValidationError as exc:
            logger.error("Unreadable message on %s: %s", message.subject, exc)
            self._counters.dead_letters += 1
            letters = self._subjects.dead_letters
            await quietly(self._nc.publish(letters, message.data, headers=message.headers))
            await quietly(message.term())
            return
        envelope.received = message.subject
        event = envelope.event
        self._counters.received += 1
        if message.metadata.num_delivered > 1:
            self._counters.redelivered += 1
        if isinstance(event, TaskStarted):  # held first: its outcome may be stored at once
            self.work.hold(event, message, time.monotonic(), self._max_in_progress)
        try:
            failed = self._bus.receive(envelope)
        except Exception as exc:  # e.g. the bus stopped, or its event log failed
            logger.warning(
                "Could not take %s for %s: %s: %s", event.type, name, type(exc).__name__, exc
            )
            failed = [(name, f"{type(exc).__name__}: {exc}")]
        for subscriber, reason in failed:  # others' failures are this process's dead letters
            if subscriber != name:
                self._bus.dead_letter(envelope, subscriber, reason)
        failed = [(subscriber, reason) for subscriber, reason in failed if subscriber == name]
        if failed:  # the name served here could not take it: another member of the pool may
            logger.info("Handing back %s for %s: %s", event.type, name, failed)
            self._counters.handed_back += 1
            if isinstance(event, TaskStarted):
                self.work.drop(event)
                self._freed.set()
            await quietly(message.nak(delay=min(1.0, self._ack_wait / 4)))
        elif not isinstance(event, TaskStarted):
            await quietly(message.ack())

    async def _on_control(self, message: Msg) -> None:
        """A cancellation for every member of the pool: to the agent that holds the attempt."""
        try:
            envelope = read_cloudevent(message.data, message.headers)
        except EventValidationError as exc:
            logger.error("Unreadable control message on %s: %s", message.subject, exc)
            return
        envelope.received = message.subject
        with contextlib.suppress(Exception):  # not ours, or the bus stopped: nothing to do
            self._bus.receive(envelope)

    async def ended(self, event: Event) -> None:
        """``event`` is stored: if it ends an attempt held here, acknowledge its task."""
        message = self.work.ended(event)
        if message is not None:
            self._freed.set()
            await quietly(message.ack())

    async def _keep_alive(self) -> None:
        while True:  # until drained: attempts finishing during a drain stay alive
            await asyncio.sleep(self._ack_wait / 3)
            for message in self.work.alive(time.monotonic()):
                await quietly(message.in_progress())

    async def drain(self, deadline: float) -> None:
        """Stop fetching; wait until ``deadline`` for held attempts; hand the rest back."""
        self.closing = True
        for task in self._tasks:
            task.cancel()
        while len(self.work) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for message in self.work.take_all():
            await quietly(message.nak())
        if self._keeping_alive is not None:
            self._keeping_alive.cancel()


async def quietly(acknowledgement: Awaitable[object]) -> None:
    """An acknowledgement (or publish) whose failure only means a redelivery: logged."""
    try:
        await acknowledgement
    except (TimeoutError, nats.errors.Error) as exc:
        logger.debug("Acknowledgement failed (the server will redeliver): %s", exc)
