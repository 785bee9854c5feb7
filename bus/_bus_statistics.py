"""BusStatistics: a snapshot of an event bus's counters."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BusStatistics"]


@dataclass(frozen=True, slots=True)
class BusStatistics:
    """A snapshot of the bus's counters.

    Attributes:
        subscriptions: Live subscriptions.
        bound_names: Names bound to an actor.
        parked: Messages held for names whose actor is restarting.
        dead_letters: Events that could not be delivered, since the bus started.
    """

    subscriptions: int
    bound_names: int
    parked: int
    dead_letters: int
