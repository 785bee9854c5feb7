"""The outbox: events for other processes, stored in JetStream in order, with backpressure."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import nats.errors
import nats.js.errors
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanKind, StatusCode

from ._cloudevents import write_cloudevent
from ._envelope import Envelope
from ._event import Event
from ._nats_counters import Counters
from ._nats_loop import LoopThread
from ._nats_subjects import Subjects, token

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext
    from nats.js.api import PubAck

__all__ = ["Outbox"]

logger = logging.getLogger(__name__)

_PUBLISH_TIMEOUT = 5.0  # seconds one JetStream publish waits for the server's answer
_WINDOW = 256  # publishes awaiting the server's acknowledgement, at most

Item = tuple[str, bytes, dict[str, str], Event, trace.Span | None]


class Outbox:
    """At most ``size`` messages waiting; one task publishes them in order.

    :meth:`put` runs in any thread. Publishes are pipelined (up to 256 awaiting the
    server's acknowledgement, settled in order): a message counts as sent only once the
    server acknowledged it (stored). One not acknowledged within 5 s is published
    again, with backoff, for ``outage_timeout`` seconds (the stream's duplicate window
    drops a second copy), then given up as a dead letter (``failed(event, subject,
    reason)``); a message retried so may be stored after later ones of the same
    window. ``stored(event)`` runs after each success.
    """

    def __init__(
        self,
        loop: LoopThread,
        nc: Client,
        js: JetStreamContext,
        subjects: Subjects,
        counters: Counters,
        *,
        size: int,
        backpressure_timeout: float,
        outage_timeout: float,
        stored: Callable[[Event], Awaitable[object]],
        failed: Callable[[Event, str, str], Awaitable[object]],
    ) -> None:
        self._loop, self._nc, self._js = loop, nc, js
        self._subjects, self._counters = subjects, counters
        self._slots = threading.BoundedSemaphore(size)
        self._backpressure_timeout = backpressure_timeout
        self._outage_timeout = outage_timeout
        self._stored, self._failed = stored, failed
        self._queue: asyncio.Queue[Item] = loop.call(_new_queue(), 5)
        self._taken = 0  # put and not yet settled (written in put and in the loop: a count)
        self._taken_lock = threading.Lock()
        self.closed = False
        self.tracer: trace.Tracer | None = None  # the bus's, once there is one
        loop.spawn(self._publish_forever(), "the NATS outbox")

    def __len__(self) -> int:
        """Messages taken and not yet stored or given up (queued, or awaiting the server)."""
        return self._taken

    def put(self, name: str, envelope: Envelope[Event]) -> str | None:
        """Queue ``envelope`` for the process that serves ``name``.

        Returns:
            ``None`` once queued; else why not: closed, or no room within the
            backpressure timeout (from the loop's own thread: no room at once).
        """
        if self.closed:
            return "transport closed"
        blocking = not self._loop.in_loop()
        timeout = self._backpressure_timeout if blocking else None
        if not self._slots.acquire(blocking, timeout):
            return f"NATS outbox full for {self._backpressure_timeout} s"
        event = envelope.event
        subject = self._subjects.to(name, event.sender)
        span = self._send_span(envelope, subject)
        if span is not None:  # the receiving process continues from the send span
            envelope = Envelope(event, span.get_span_context())
        payload, headers = write_cloudevent(envelope)
        # JetStream drops a duplicate; CloudEvents ids are unique per source only.
        headers["Nats-Msg-Id"] = f"{token(event.source)}:{event.id}:{token(name)}"
        with self._taken_lock:
            self._taken += 1
        self._loop.soon(self._queue.put_nowait, (subject, payload, headers, event, span))
        return None

    def _send_span(self, envelope: Envelope[Event], subject: str) -> trace.Span | None:
        """The PRODUCER ``send <subject>`` span of a message (OTel messaging conventions)."""
        parent = envelope.span_context
        if self.tracer is None or parent is None or not parent.is_valid:
            return None
        event = envelope.event
        attributes = {
            "messaging.system": "nats",
            "messaging.operation.type": "send",
            "messaging.operation.name": "send",
            "messaging.destination.name": subject,
            "messaging.message.id": event.id,
        }
        if event.workflow_id:
            attributes["messaging.message.conversation_id"] = event.workflow_id
        return self.tracer.start_span(
            f"send {subject}",
            context=trace.set_span_in_context(NonRecordingSpan(parent)),
            kind=SpanKind.PRODUCER,
            attributes=attributes,
        )

    async def _publish_forever(self) -> None:
        # Pipelined: publish without waiting, up to _WINDOW acknowledgements outstanding,
        # settled in order by another task (one wait per message would cap a process at
        # one message per round trip).
        acks: asyncio.Queue[tuple[Item, asyncio.Future[PubAck] | None]] = asyncio.Queue(_WINDOW)
        settling = asyncio.get_running_loop().create_task(self._settle_forever(acks))
        try:
            while True:
                item = await self._queue.get()
                await acks.put((item, await self._publish_async(item)))
        finally:
            settling.cancel()

    async def _publish_async(self, item: Item) -> asyncio.Future[PubAck] | None:
        """Send ``item`` without waiting for the server; ``None``: send it the slow way.

        Only while connected, and never longer than the publish timeout (nats-py keeps a
        permit of a publish that failed, so its pool of permits may run low).
        """
        subject, payload, headers, _, _ = item
        if not self._nc.is_connected or len(payload) > self._nc.max_payload:
            return None
        try:
            return await self._js.publish_async(
                subject, payload, headers=headers, wait_stall=_PUBLISH_TIMEOUT
            )
        except (TimeoutError, nats.errors.Error):
            return None

    async def _settle_forever(
        self, acks: asyncio.Queue[tuple[Item, asyncio.Future[PubAck] | None]]
    ) -> None:
        while True:
            (subject, payload, headers, event, span), ack = await acks.get()
            stored = False
            try:
                if ack is not None:
                    with contextlib.suppress(TimeoutError, nats.errors.Error):
                        await asyncio.wait_for(ack, _PUBLISH_TIMEOUT)
                        stored = True
                if not stored:  # not stored (yet): again, in order, until the outage ends
                    self._counters.publish_retries += 1
                    stored = await self._publish(subject, payload, headers)
            finally:
                self._slots.release()
            if span is not None:
                if not stored:
                    span.set_attribute("error.type", "not stored")
                    span.set_status(StatusCode.ERROR, "could not be stored in JetStream")
                span.end()
            try:
                if stored:
                    self._counters.sent += 1
                    await self._stored(event)
                else:
                    await self._failed(event, subject, "could not be stored in JetStream")
            except Exception:  # what a callback raised must not stop the outbox
                logger.exception("After publishing %s to %s", event.type, subject)
            finally:
                with self._taken_lock:
                    self._taken -= 1

    async def _publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> bool:
        if len(payload) > self._nc.max_payload:  # it never will be stored: no retries
            logger.error(
                "Not publishing to %s: %d bytes, over the server's maximum", subject, len(payload)
            )
            return False
        deadline = time.monotonic() + self._outage_timeout
        pause = 0.05
        while True:
            try:
                await self._js.publish(subject, payload, timeout=_PUBLISH_TIMEOUT, headers=headers)
            except nats.js.errors.APIError as exc:  # the stream refused it: for good
                logger.error("JetStream refused a message to %s: %s", subject, exc)
                return False
            except (TimeoutError, nats.errors.Error) as exc:
                if time.monotonic() + pause > deadline:
                    logger.error("Publishing to %s failed for good: %s", subject, exc)
                    return False
                self._counters.publish_retries += 1
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)
            else:
                return True


async def _new_queue() -> asyncio.Queue[Item]:
    return asyncio.Queue()  # made in the loop, for the loop
