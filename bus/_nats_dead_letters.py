"""Dead letters of the NATS transport: poison messages and what could not be stored.

JetStream stops redelivering a message after the consumer's ``max_deliver`` deliveries
and says so with an advisory (NATS docs, "Monitoring JetStream": subject
``$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>``, with the message's
``stream_seq``). One process of the team (a queue group) turns each into a
:class:`~bus.DeadLetter`: removed from the stream, published as a CloudEvent on
``<namespace>.deadletter``, and published on that process's bus, where the orchestrator
retries or fails the task it was for.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import TYPE_CHECKING

import nats.errors

from ._cloudevents import read_cloudevent, write_cloudevent
from ._envelope import Envelope
from ._errors import EventValidationError
from ._event import DeadLetter, Event
from ._nats_counters import Counters
from ._nats_inbox import quietly

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext

    from ._bus import EventBus
    from ._nats_subjects import Subjects

__all__ = ["DeadLetterOffice"]

logger = logging.getLogger(__name__)

ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES"


class DeadLetterOffice:
    """Publishes dead letters; watches max-deliveries advisories when asked to."""

    def __init__(
        self, nc: Client, js: JetStreamContext, subjects: Subjects, counters: Counters
    ) -> None:
        self._nc, self._js, self._subjects, self._counters = nc, js, subjects, counters
        self.bus: EventBus | None = None

    async def watch(self) -> None:
        """Take this stream's max-deliveries advisories (with the other processes)."""
        subject = f"{ADVISORY}.{self._subjects.stream}.*"
        await self._nc.subscribe(subject, queue="deadletters", cb=self._on_advisory)

    async def _on_advisory(self, advisory: Msg) -> None:
        try:
            info = json.loads(advisory.data)
            seq, deliveries = int(info["stream_seq"]), int(info["deliveries"])
            stored = await self._js.get_msg(self._subjects.stream, seq)
            envelope = read_cloudevent(stored.data or b"", stored.headers or {})
        except (ValueError, KeyError, TypeError, nats.errors.Error, EventValidationError) as exc:
            logger.error("A max-deliveries advisory could not be read: %s", exc)
            return
        with contextlib.suppress(nats.errors.Error):
            await self._js.delete_msg(self._subjects.stream, seq)
        reason = (
            f"delivered {deliveries} times (max_deliver) without an acknowledgement: "
            "each process that took it died or could not deliver it"
        )
        await self.post(envelope.event, stored.subject or "", reason)

    async def post(self, event: Event, subject: str, reason: str) -> None:
        """Publish ``event`` as a dead letter, on the dead-letter subject and here.

        Here means this process's subscribers only: never sent on to another process,
        so a letter that could not be sent either makes no other letter, nor a loop.

        The letter's ``subscriber`` is the event's recipient (an agent, for its
        ``TaskStarted``: what the orchestrator matches), else the ``subject``.
        """
        self._counters.dead_letters += 1
        logger.warning("Dead letter on %s: %s %s: %s", subject, event.type, event.id, reason)
        letter = DeadLetter(
            source="nats",
            subscriber=event.recipient or subject,
            reason=reason,
            event=event.model_dump(mode="json"),
            workflow_id=event.workflow_id,
            task_id=event.task_id,
            attempt=event.attempt,
        )
        envelope = Envelope(letter)
        payload, headers = write_cloudevent(envelope)
        await quietly(self._nc.publish(self._subjects.dead_letters, payload, headers=headers))
        if self.bus is not None:
            envelope.received = self._subjects.dead_letters  # here only
            with contextlib.suppress(Exception):  # a stopped bus: the letter is logged above
                self.bus.receive(envelope)
