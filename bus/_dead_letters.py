"""Dead letters: counting, logging and describing what the bus could not deliver."""

from __future__ import annotations

import logging
import threading

from opentelemetry import metrics

from ._envelope import Envelope
from ._event import DeadLetter, Event

__all__ = ["DeadLetters"]

logger = logging.getLogger(__name__)


class DeadLetters:
    """Turns undeliverable messages into :class:`DeadLetter` events, and counts them.

    Each dead letter is counted (:attr:`count` and the ``actorchestra.bus.dead_letters``
    counter, by reason kind) and logged at WARNING, without its payload. Publishing the
    returned :class:`DeadLetter` is the caller's job. Thread-safe.

    Args:
        meter: The meter the ``actorchestra.bus.dead_letters`` counter is created on.
    """

    __slots__ = ("_count", "_counter", "_lock")

    def __init__(self, meter: metrics.Meter) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._counter = meter.create_counter(
            "actorchestra.bus.dead_letters",
            unit="{event}",
            description="Events that could not be delivered to a subscriber.",
        )

    @property
    def count(self) -> int:
        """Dead letters recorded so far."""
        return self._count

    def record(self, message: object, subscriber: str, reason: str) -> DeadLetter | None:
        """Count and log ``message`` as undeliverable to ``subscriber``.

        Args:
            message: What could not be delivered: usually an :class:`Envelope`; anything
                else (a message told to an actor directly) is only counted and logged.
            subscriber: The name (or callable's name) it was for.
            reason: Why, e.g. ``"subscriber not bound"``; the part before any ``:`` is
                the metric's ``actorchestra.dead_letter.reason`` attribute.

        Returns:
            The :class:`DeadLetter` event to publish, or ``None`` when ``message`` is not
            an envelope or carries a dead letter itself (no dead letter of a dead letter).
        """
        if not isinstance(message, Envelope):
            self._add({"actorchestra.dead_letter.reason": _kind(reason)})
            logger.warning("Dead letter for %s (%s): a non-event message", subscriber, reason)
            return None
        event: Event = message.event
        self._add(
            {
                "actorchestra.dead_letter.reason": _kind(reason),
                "messaging.destination.name": subscriber,
            }
        )
        logger.warning("Dead letter: %s %s for %s (%s)", event.type, event.id, subscriber, reason)
        if isinstance(event, DeadLetter):
            return None
        return DeadLetter(
            source="bus",
            workflow_id=event.workflow_id,
            task_id=event.task_id,
            causation_id=event.id,
            attempt=event.attempt,
            subscriber=subscriber,
            reason=reason,
            event=event.model_dump(mode="json"),
        )

    def _add(self, attributes: dict[str, str]) -> None:
        with self._lock:
            self._count += 1
        self._counter.add(1, attributes)


def _kind(reason: str) -> str:
    """A dead letter's reason without its details, as a low-cardinality metric attribute."""
    return reason.split(":", 1)[0]
