"""Where the bus copies every published event: the hook an event log plugs into."""

from __future__ import annotations

from typing import Protocol

from ._envelope import Envelope
from ._event import Event

__all__ = ["EventSink"]


class EventSink(Protocol):
    """Receives every event the bus publishes, before any subscriber does.

    ``append`` runs in the publisher's thread, once per event, in publish order per
    publisher; an event is appended before it is delivered, so an event that caused
    another is always appended first. It must be quick and must not block for long
    (:class:`memory.SQLiteEventLog` only enqueues for its writer thread). What it raises
    propagates to the publisher, and the event is then not delivered.
    """

    def append(self, envelope: Envelope[Event]) -> None:
        """Take one event (with the span context that published it, if any)."""
        ...
