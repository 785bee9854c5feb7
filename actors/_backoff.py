"""Restart backoff: exponential delays with jitter, as Akka's ``restartWithBackoff``."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ._errors import ConfigurationError

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before restarting a child that keeps crashing.

    The n-th consecutive restart waits ``min(maximum, minimum * 2 ** (n - 1))`` seconds,
    times a random factor in ``[1, 1 + jitter]`` (Akka's ``randomFactor``), so a child
    that crashes on start does not spin and a fleet of children does not restart in
    lock-step. The count resets when the child ran at least ``reset_after`` seconds
    (``maximum`` by default) before crashing.

    Attributes:
        minimum: First delay, in seconds (> 0).
        maximum: Largest delay before jitter, in seconds (≥ ``minimum``).
        jitter: Random extra, as a fraction of the delay (≥ 0).
        reset_after: Seconds of uptime after which the next crash counts as the first.

    Raises:
        ConfigurationError: A bound is out of range (also a ``ValueError``).
    """

    minimum: float = 0.1
    maximum: float = 10.0
    jitter: float = 0.2
    reset_after: float | None = None

    def __post_init__(self) -> None:
        if not (0 < self.minimum <= self.maximum) or self.jitter < 0:
            msg = (
                f"Backoff(minimum={self.minimum}, maximum={self.maximum}, jitter={self.jitter}) "
                "is invalid; use 0 < minimum <= maximum and jitter >= 0."
            )
            raise ConfigurationError(msg)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before the ``attempt``-th consecutive restart (1-based)."""
        base = min(self.maximum, self.minimum * 2.0 ** max(0, attempt - 1))
        draw = rng.random() if rng is not None else random.random()
        return base * (1 + self.jitter * draw)

    @property
    def reset_seconds(self) -> float:
        """Uptime, in seconds, after which the consecutive-restart count resets."""
        return self.maximum if self.reset_after is None else self.reset_after
