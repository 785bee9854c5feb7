"""A rate limit that :class:`~actors.testing.FakeLLMServer` enforces, as providers do."""

from __future__ import annotations

import math
import threading
import time

__all__ = ["ServerRateLimit"]


class ServerRateLimit:
    """At most ``requests`` chat requests per ``window`` seconds, or HTTP 429.

    A fixed window, started by the first request after the last one ended. Every
    answer carries OpenAI's headers (``x-ratelimit-limit-requests``,
    ``x-ratelimit-remaining-requests``, ``x-ratelimit-reset-requests`` as e.g.
    ``"850ms"``); a refusal also ``Retry-After`` (whole seconds, rounded up) and
    ``retry-after-ms``. Thread-safe.

    Args:
        requests: Requests admitted per window.
        window: The window's length in seconds (a minute, as providers count).

    Attributes:
        admitted: Requests let through so far.
        refused: Requests answered 429 so far.

    Example:
        >>> limit = ServerRateLimit(requests=1, window=60)
        >>> limit.admit()[0], limit.admit()[0], limit.refused
        (True, False, 1)
    """

    def __init__(self, requests: int, window: float = 60.0) -> None:
        self.requests = requests
        self.window = window
        self.admitted = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._started = -math.inf
        self._count = 0

    def admit(self) -> tuple[bool, dict[str, str]]:
        """Count one request: whether it is admitted, and the headers for its answer."""
        now = time.monotonic()
        with self._lock:
            if now >= self._started + self.window:
                self._started, self._count = now, 0
            admitted = self._count < self.requests
            if admitted:
                self._count += 1
                self.admitted += 1
            else:
                self.refused += 1
            reset = max(0.0, self._started + self.window - now)
            headers = {
                "x-ratelimit-limit-requests": str(self.requests),
                "x-ratelimit-remaining-requests": str(self.requests - self._count),
                "x-ratelimit-reset-requests": f"{round(reset * 1000)}ms",
            }
        if not admitted:
            headers["Retry-After"] = str(math.ceil(reset))
            headers["retry-after-ms"] = str(round(reset * 1000))
        return admitted, headers
