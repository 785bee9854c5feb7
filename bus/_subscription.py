"""Subscriptions: who receives which events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._event import Event

__all__ = ["Subscription"]


@dataclass(frozen=True, slots=True, eq=False)
class Subscription:
    """One subscriber's interest in one event type (and its subclasses).

    Attributes:
        id: Unique per bus.
        event_type: Events of this class or a subclass match.
        subscriber: An actor's name (resolved to its current ``ActorRef`` at each
            delivery, so a restarted actor keeps receiving) or a callable run in the
            publisher's thread.
        recipient: If set, only events addressed to this name match.
        where: If set, only events for which it returns true match; it runs in the
            publisher's thread and must not block.
    """

    id: int
    event_type: type[Event]
    subscriber: str | Callable[[Any], object]
    recipient: str | None = None
    where: Callable[[Any], bool] | None = None

    @property
    def subscriber_name(self) -> str:
        """The subscriber's name, or the callable's qualified name."""
        s = self.subscriber
        if isinstance(s, str):
            return s
        name = getattr(s, "__qualname__", None)
        return name if isinstance(name, str) else repr(s)

    def matches_type(self, event_type: type[Event]) -> bool:
        """Whether events of ``event_type`` are of this subscription's type."""
        return issubclass(event_type, self.event_type)
