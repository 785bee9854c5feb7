"""The JetStream event log's publisher: a bounded queue, published in order from the loop.

``append`` runs in publishers' threads and on the transport's event-loop thread (where
the bus takes events from other processes); it never waits there. One task on the loop
publishes what was queued, a window at a time (``publish_async``: sent in order on the
one connection, so stored in order; then each acknowledgement awaited). A publish that
failed is retried, in order, while the server is unreachable (``outage_timeout``); then
the event is lost: logged at ERROR and counted. Readers put any event a retry stored
late back into its appender's order (the ``Actorchestra-Append`` header).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

from memory._errors import MemoryStoreError
from memory._exit_flush import flush_at_exit, forget_at_exit

from ._log_records import APPEND_HEADER
from ._stream_reads import TRANSIENT

if TYPE_CHECKING:
    from bus import NatsTransport

__all__ = ["LogWriter"]

logger = logging.getLogger(__name__)

Item = tuple[str, bytes, dict[str, str]]  # subject, payload, headers

_WINDOW = 256  # messages published before their acknowledgements are awaited
_PUBLISH_TIMEOUT = 5.0  # seconds a window's acknowledgements (or one publish) may take


class LogWriter:
    """Publishes an event log's messages to JetStream, in append order.

    The policy is documented on :class:`memory.JetStreamEventLog`, whose parameters of
    the same names these are.

    Args:
        transport: Whose connection and event loop publish.
        where: The log's stream, for messages.
        max_pending: Messages appended and not yet acknowledged, at most (outside the
            loop's thread).
        backpressure_timeout: Seconds an append waits for room.
        outage_timeout: Seconds a failed publish is retried.
    """

    def __init__(
        self,
        transport: NatsTransport,
        where: str,
        *,
        max_pending: int,
        backpressure_timeout: float,
        outage_timeout: float,
    ) -> None:
        self.where = where
        self.max_pending = max_pending
        self.backpressure_timeout = backpressure_timeout
        self.outage_timeout = outage_timeout
        self.lost = 0
        self._transport = transport
        self._appender = uuid.uuid4().hex[:16]
        self._items: deque[Item] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._appended = 0  # messages appended so far
        self._done = 0  # of which published (stored or lost), in order
        self._idle = False  # the task waits for _wake
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        transport.call(self._start(), 10)
        flush_at_exit(self, self.where)

    async def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = self._loop.create_task(self._publish_forever())

    # -- any thread -----------------------------------------------------------------

    def append(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        """Queue one message; outside the loop's thread, waits while the queue is full.

        Raises:
            MemoryStoreError: The log is closed, or no room within ``backpressure_timeout``.
        """
        in_loop = self._transport.in_loop()
        with self._cond:
            if self._closed:
                self._raise_closed()
            if not in_loop and self._appended - self._done >= self.max_pending:
                self._wait_for_room()
            headers[APPEND_HEADER] = f"{self._appender} {self._appended}"
            self._items.append((subject, payload, headers))
            self._appended += 1
            wake, self._idle = self._idle, False
        if wake:
            self._wake_task(in_loop)

    def _wake_task(self, in_loop: bool) -> None:
        """Wake the publishing task (from its own thread, or any other).

        Raises:
            MemoryStoreError: The transport's loop is closed (the transport was closed).
        """
        loop, wake = self._loop, self._wake
        assert loop is not None
        assert wake is not None
        if in_loop:
            wake.set()
        elif loop.is_closed() or not loop.is_running():
            msg = f"Event log {self.where!r} cannot publish: its NatsTransport is closed."
            raise MemoryStoreError(msg)
        else:
            loop.call_soon_threadsafe(wake.set)

    def _wait_for_room(self) -> None:
        """Wait (holding the condition) until fewer than ``max_pending`` are pending."""
        deadline = time.monotonic() + self.backpressure_timeout
        while self._appended - self._done >= self.max_pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                msg = (
                    f"Event log {self.where!r} has {self.max_pending} events waiting for "
                    f"JetStream after {self.backpressure_timeout} s; is the server reachable?"
                )
                raise MemoryStoreError(msg)
            self._cond.wait(min(remaining, 1.0))
            if self._closed:
                self._raise_closed()

    def flush(self, timeout: float) -> None:
        """Wait until everything appended so far is stored (or lost, and counted).

        Raises:
            MemoryStoreError: Not done within ``timeout`` seconds, the log is closed, or
                called on the transport's event-loop thread (which publishes).
        """
        if self._transport.in_loop():
            msg = f"Event log {self.where!r} cannot be flushed or read on the NATS loop thread."
            raise MemoryStoreError(msg)
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._closed:
                self._raise_closed()
            target = self._appended
            while self._done < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._task is None or self._task.done():
                    msg = (
                        f"Event log {self.where!r} did not store {target - self._done} "
                        f"events in JetStream within {timeout} s."
                    )
                    raise MemoryStoreError(msg)
                self._cond.wait(min(remaining, 1.0))

    def close(self, timeout: float) -> bool:
        """Publish what is queued (within ``timeout`` s), then stop; ``False`` if closed before."""
        with self._cond:
            if self._closed:
                return False
            self._closed = True
        forget_at_exit(self)
        with contextlib.suppress(MemoryStoreError, TimeoutError):
            self._wake_task(in_loop=False)
            self._transport.call(self._join(timeout), timeout + 5)
        with self._cond:
            left = self._appended - self._done
        if left:
            self.lost += left
            logger.error("Event log %s lost %d events at close", self.where, left)
        return True

    async def _join(self, timeout: float) -> None:
        assert self._task is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            self._task.cancel()

    def _raise_closed(self) -> None:
        msg = f"Event log {self.where!r} is closed; close it after the bus's publishers stopped."
        raise MemoryStoreError(msg)

    # -- the loop's thread ----------------------------------------------------------

    async def _publish_forever(self) -> None:
        assert self._wake is not None
        while True:
            with self._cond:
                batch = [self._items.popleft() for _ in range(min(len(self._items), _WINDOW))]
                if not batch:
                    if self._closed:
                        return
                    self._idle = True
                    self._wake.clear()
            if not batch:
                await self._wake.wait()
                continue
            try:
                await self._publish(batch)
            finally:
                with self._cond:
                    self._done += len(batch)
                    self._cond.notify_all()

    async def _publish(self, batch: list[Item]) -> None:
        js = self._transport.jetstream
        acks: list[asyncio.Future[Any] | None] = []
        for subject, payload, headers in batch:
            try:
                acks.append(
                    await js.publish_async(
                        subject, payload, wait_stall=_PUBLISH_TIMEOUT, headers=headers
                    )
                )
            except Exception:  # retried one by one below
                acks.append(None)
        deadline = time.monotonic() + _PUBLISH_TIMEOUT
        failed: list[Item] = []
        for item, ack in zip(batch, acks, strict=True):
            try:
                if ack is None:
                    raise TimeoutError  # not sent: retried below
                await asyncio.wait_for(ack, max(deadline - time.monotonic(), 0.001))
            except Exception:  # retried one by one below
                failed.append(item)
        for item in failed:
            await self._publish_retrying(item)

    async def _publish_retrying(self, item: Item) -> None:
        subject, payload, headers = item
        deadline = time.monotonic() + self.outage_timeout
        pause = 0.05
        while True:
            try:
                await self._transport.jetstream.publish(
                    subject, payload, timeout=_PUBLISH_TIMEOUT, headers=headers
                )
            except TRANSIENT as exc:
                if time.monotonic() + pause < deadline:
                    logger.debug("Event log %s: publish failed (%r); retrying", self.where, exc)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 2.0)
                    continue
                self._lose(subject, f"unreachable for {self.outage_timeout} s ({exc!r})")
            except Exception as exc:  # refused for good (too large, ...)
                self._lose(subject, f"refused: {type(exc).__name__}: {exc}")
            return

    def _lose(self, subject: str, why: str) -> None:
        self.lost += 1
        logger.error("Event log %s lost an event on %s: JetStream %s", self.where, subject, why)
