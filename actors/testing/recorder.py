"""A recording subscriber: captures every event of a run, for tests and checks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from bus import Event, EventBus

__all__ = ["EventRecorder"]

E = TypeVar("E", bound=Event)


class EventRecorder:
    """Records events published on a bus, in the order the bus delivered them.

    It subscribes as a callable, so it records in the publisher's thread (no extra hop)
    and before any actor is told of the event (see :meth:`bus.EventBus.publish`): an
    event is always recorded before the events it caused, whichever threads publish
    them, which :func:`check_protocol` relies on.

    Args:
        bus: The bus to record.
        event_type: Record only this type (and subclasses); every event by default.

    Example:
        >>> from bus import EventBus, TaskCompleted
        >>> bus = EventBus(tracing=False)
        >>> rec = EventRecorder(bus)
        >>> bus.publish(TaskCompleted(agent="a"))
        >>> [e.type for e in rec.events]
        ['task.completed']
    """

    def __init__(self, bus: EventBus, event_type: type[Event] = Event) -> None:
        self._cond = threading.Condition()
        self._events: list[Event] = []
        self._bus = bus
        self.subscription = bus.subscribe(event_type, self._record)

    def _record(self, event: Event) -> None:
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()

    @property
    def events(self) -> list[Event]:
        """A snapshot of the recorded events."""
        with self._cond:
            return list(self._events)

    def of_type(self, event_type: type[E]) -> list[E]:
        """The recorded events of ``event_type``."""
        return [e for e in self.events if isinstance(e, event_type)]

    def wait_for(self, predicate: Callable[[list[Event]], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate(events)`` is true; return False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self._events):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def close(self) -> None:
        """Stop recording."""
        self._bus.unsubscribe(self.subscription)
