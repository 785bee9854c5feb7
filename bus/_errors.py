"""Errors raised by the event bus and the event model."""

from __future__ import annotations

__all__ = [
    "BusClosedError",
    "BusError",
    "ConfigurationError",
    "EventValidationError",
]


class BusError(Exception):
    """Base class of every error raised by :mod:`bus`."""


class ConfigurationError(BusError):
    """A usage mistake: a bad subscription, topic or argument."""


class EventValidationError(BusError, ValueError):
    """An event could not be built or parsed.

    Attributes:
        field: The dotted path of the first offending field (``"type"`` for an unknown
            event type, ``""`` for JSON that does not parse at all).
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class BusClosedError(BusError):
    """The bus was stopped; publish or subscribe was called on it afterwards."""
