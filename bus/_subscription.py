"""Subscriptions: who receives which events, and the table a bus routes by."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._event import Event

__all__ = ["Subscription", "SubscriptionTable"]


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


class SubscriptionTable:
    """One bus's subscriptions, and the routes computed from them.

    A *route* is the tuple of subscriptions an event of one type, addressed to one
    recipient (or ``None``), goes to: callables first, then actor names, each kind in
    subscription order. Routes are cached in :attr:`routes` until a subscription is
    added or removed, so :meth:`route` takes no lock once its route is cached.
    Thread-safe.

    Attributes:
        routes: The cached routes by ``(event type, recipient)``; read-only for callers.
            It stays the same dict (cleared on every change), so a publisher may keep a
            reference to it and try ``routes.get(key)`` before calling :meth:`route`.
    """

    __slots__ = ("_ids", "_lock", "_subscriptions", "routes")

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._subscriptions: dict[int, Subscription] = {}
        self.routes: dict[tuple[type[Event], str | None], tuple[Subscription, ...]] = {}

    def __len__(self) -> int:
        return len(self._subscriptions)

    def add(
        self,
        event_type: type[Event],
        subscriber: str | Callable[[Any], object],
        recipient: str | None,
        where: Callable[[Any], bool] | None,
    ) -> Subscription:
        """Add a subscription (arguments as in :class:`Subscription`) and return it.

        An actor name subscribed again with the same type and recipient, and no
        ``where``, gets its existing subscription back.
        """
        with self._lock:
            if isinstance(subscriber, str) and where is None:
                for sub in self._subscriptions.values():
                    if (sub.event_type, sub.subscriber, sub.recipient, sub.where) == (
                        event_type,
                        subscriber,
                        recipient,
                        None,
                    ):
                        return sub
            sub = Subscription(next(self._ids), event_type, subscriber, recipient, where)
            self._subscriptions[sub.id] = sub
            self.routes.clear()
            return sub

    def remove(self, subscription: Subscription) -> None:
        """Remove ``subscription``; removing one twice is a no-op."""
        with self._lock:
            if self._subscriptions.pop(subscription.id, None) is not None:
                self.routes.clear()

    def route(self, key: tuple[type[Event], str | None]) -> tuple[Subscription, ...]:
        """The subscriptions an event of type ``key[0]`` addressed to ``key[1]`` goes to."""
        subs = self.routes.get(key)
        if subs is not None:
            return subs
        event_type, recipient = key
        with self._lock:
            matching = [
                s
                for s in self._subscriptions.values()
                if s.matches_type(event_type) and s.recipient in (None, recipient)
            ]
            # Callables first (stable sort: each kind in subscription order): what one
            # records of an event then comes before anything an actor does about it.
            subs = tuple(sorted(matching, key=lambda s: isinstance(s.subscriber, str)))
            self.routes[key] = subs
        return subs
