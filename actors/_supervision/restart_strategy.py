"""Restart strategies and restart intensity, as OTP's ``supervisor`` defines them."""

from __future__ import annotations

import enum
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import NoReturn

from actors._errors import ConfigurationError, RestartLimitExceeded
from bus import EventBus, SupervisorEscalated

__all__ = ["RestartIntensity", "RestartStrategy", "escalate"]

logger = logging.getLogger(__name__)


class RestartStrategy(enum.Enum):
    """Which children a supervisor restarts when one exits and must be restarted.

    * ``ONE_FOR_ONE`` — only that child.
    * ``ONE_FOR_ALL`` — every child: the others are stopped (in reverse start order)
      and all are started again in start order.
    * ``REST_FOR_ONE`` — that child and the children started after it.
    """

    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"

    def affected(self, order: Sequence[str], child: str) -> list[str]:
        """The child ids to restart, in start order, when ``child`` exits."""
        if self is RestartStrategy.ONE_FOR_ONE:
            return [child]
        if self is RestartStrategy.ONE_FOR_ALL:
            return list(order)
        return list(order[order.index(child) :])


class RestartIntensity:
    """At most ``max_restarts`` restarts within any ``period`` seconds (OTP intensity).

    The defaults, 3 restarts in 5 seconds, are OTP's ``intensity`` 1 / ``period`` 5
    widened a little: an agent whose model endpoint hiccups twice in a row is still
    restarted, while one that crashes on every start fails its supervisor within
    seconds instead of spinning.

    Args:
        max_restarts: Restarts allowed within the window (``0`` allows none).
        period: Window length in seconds.
        clock: Monotonic clock in seconds (for tests).

    Raises:
        ConfigurationError: ``max_restarts`` < 0 or ``period`` <= 0 (also a
            ``ValueError``).
    """

    def __init__(
        self,
        max_restarts: int = 3,
        period: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_restarts < 0 or period <= 0:
            msg = (
                f"Restart intensity {max_restarts} in {period} s is invalid; "
                "use max_restarts >= 0 and period > 0."
            )
            raise ConfigurationError(msg)
        self.max_restarts = max_restarts
        self.period = period
        self._clock = clock
        self._times: deque[float] = deque()

    def add_restart(self) -> bool:
        """Count one restart now; return False if that exceeds the intensity."""
        now = self._clock()
        self._times.append(now)
        while self._times and self._times[0] <= now - self.period:
            self._times.popleft()
        return len(self._times) <= self.max_restarts

    @property
    def recent(self) -> int:
        """Restarts counted within the current window."""
        return len(self._times)


def escalate(
    bus: EventBus, supervisor: str, intensity: RestartIntensity, *, fatal: bool
) -> NoReturn:
    """Give up on restarting: publish ``SupervisorEscalated`` and raise (OTP ``shutdown``).

    The supervisor has stopped its children; raising crashes it, so its own supervisor
    applies its strategy. ``fatal`` (a root supervisor) logs at ERROR, else at INFO.

    Raises:
        RestartLimitExceeded: Always.
    """
    bus.publish(
        SupervisorEscalated(
            source=supervisor,
            supervisor=supervisor,
            restarts=intensity.recent,
            period=intensity.period,
            fatal=fatal,
        )
    )
    msg = (
        f"Supervisor {supervisor!r} exceeded its restart intensity "
        f"({intensity.max_restarts} restarts in {intensity.period} s)."
    )
    logger.error(msg) if fatal else logger.info(msg)
    raise RestartLimitExceeded(msg)
