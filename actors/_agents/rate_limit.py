"""Shared rate limits per endpoint: requests and tokens per window, configured or learned.

Every :class:`LLMAgent` and :class:`Planner` calling one base URL takes its turn from
the one :class:`RateLimiter` that :class:`Endpoints` keeps for that URL, so a team
slows down before the provider answers 429.

Why our own limiter and not a library: the ``limits`` package (5.x, well kept) was the
candidate, but its limiters answer ``hit``/``test`` without waiting, cannot give back
an over-estimated cost once a response reports its usage, and cannot be told the
budget a server reports in its ``x-ratelimit-*`` headers; this module needs all three,
and waiting with an attempt's :class:`Cancellation`. It is a moving window (a log of
the requests of the last ``window`` seconds) in about a hundred lines.

A request occupies the window from when it is sent until ``window`` seconds after its
answer came back (while it is in flight it counts in full). The server counted it at
some moment in between, so any window the server counts is one the limiter counted
too: with the server's limit configured, no request is refused for it.

Tokens are not known before the call: a request is charged an estimate (its
``max_tokens`` or ``max_completion_tokens`` if set, else 1,000, plus its prompt at
about 4 characters a token, as providers estimate it) and corrected to the usage its
response reports (``total_tokens``).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import openai
from opentelemetry.trace import Span

from actors._errors import ConfigurationError, TaskError

from .cancellation import Cancellation

__all__ = [
    "RateLimit",
    "RateLimitStatistics",
    "RateLimiter",
    "Turn",
    "estimate_tokens",
    "parse_reset",
]

_DEFAULT_COMPLETION_TOKENS = 1000
_POLL = 0.05  # seconds between two looks while only requests in flight hold the budget


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``requests`` requests and ``tokens`` tokens in any ``window`` seconds.

    ``None`` for either: not configured (``RateLimit()`` configures neither and only
    learns). The endpoint's ``x-ratelimit-*`` response headers (OpenAI's) are read
    either way: once ``x-ratelimit-remaining-requests``, less the requests sent since,
    reaches 0, every caller waits until ``x-ratelimit-reset-requests`` has passed, and
    then has ``x-ratelimit-limit-requests`` again (``-tokens`` likewise). Learning
    starts with the first answer: requests sent together before it are not held back,
    so configure the limit where a team starts with a burst.

    Args:
        requests: Requests per window (OpenAI's RPM with the default window).
        tokens: Tokens (prompt and completion) per window (OpenAI's TPM).
        window: The window's length in seconds; a minute, as providers state limits.
        max_wait: The longest one call waits for its turn, in seconds, besides its
            attempt's deadline; past it the call fails, retryably.

    Raises:
        ConfigurationError: A value is not positive.

    Example:
        >>> RateLimit(requests=500, tokens=200_000)
        RateLimit(requests=500, tokens=200000, window=60.0, max_wait=120.0)
    """

    requests: int | None = None
    tokens: int | None = None
    window: float = 60.0
    max_wait: float = 120.0

    def __post_init__(self) -> None:
        values = (self.requests, self.tokens, self.window, self.max_wait)
        if any(v is not None and v <= 0 for v in values):
            msg = f"{self!r} has a value <= 0; give positive limits, window and max_wait."
            raise ConfigurationError(msg)


@dataclass(slots=True)
class Permit:
    """One request in the window, as :meth:`RateLimiter.acquire` hands it out.

    When it was sent, answered (``None``: in flight), and its tokens.
    """

    sent: float
    answered: float | None
    tokens: int


@dataclass(slots=True)
class _Learned:
    """What an endpoint's headers said about one dimension (requests or tokens)."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None


@dataclass(frozen=True, slots=True)
class RateLimitStatistics:
    """A :class:`RateLimiter`'s counts so far.

    Attributes:
        requests: Requests let through.
        waited: Seconds callers waited for their turn, in all.
    """

    requests: int
    waited: float


@dataclass(slots=True)
class _Counters:
    waited: float = 0.0
    requests: int = 0
    learned: dict[str, _Learned] = field(
        default_factory=lambda: {"requests": _Learned(), "tokens": _Learned()}
    )


class RateLimiter:
    """One endpoint's limiter, shared by every thread calling it; see :class:`RateLimit`.

    :meth:`acquire` waits (without holding its lock) until a request fits, then charges
    it; :meth:`answered` records its answer, the actual tokens and the headers.
    """

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._entries: list[Permit] = []
        self._counters = _Counters()

    def acquire(
        self, tokens: int, cancellation: Cancellation | None = None
    ) -> tuple[Permit, float]:
        """Wait for a turn to send a request estimated at ``tokens``, then charge it.

        Runs in the caller's thread; waits in steps with ``cancellation.wait``, so a
        cancellation or the attempt's deadline ends the wait at once.

        Returns:
            The request's handle for :meth:`answered`, and the seconds waited.

        Raises:
            TaskCancelled: ``cancellation`` was cancelled while waiting.
            TimeoutError: The turn did not come within ``max_wait`` seconds.
        """
        started = now = time.monotonic()
        while True:
            with self._lock:
                delay = self._delay(tokens, now)
                if delay <= 0:
                    entry = Permit(now, None, tokens)
                    self._entries.append(entry)
                    for name, cost in (("requests", 1), ("tokens", tokens)):
                        learned = self._counters.learned[name]
                        if learned.remaining is not None:
                            learned.remaining -= cost
                    waited = now - started
                    self._counters.waited += waited
                    self._counters.requests += 1
                    return entry, waited
            if now - started + min(delay, _POLL) > self.limit.max_wait:
                msg = f"no turn within max_wait={self.limit.max_wait:g} s of {self.limit!r}."
                raise TimeoutError(msg)
            if cancellation is None:
                time.sleep(min(delay, _POLL))
            elif cancellation.wait(min(delay, _POLL)):
                cancellation.raise_if_cancelled()
            now = time.monotonic()

    def answered(
        self, handle: Permit, tokens: int | None, headers: Mapping[str, str] | None = None
    ) -> None:
        """Note that the request ``handle`` was answered.

        Args:
            handle: What :meth:`acquire` returned for the request.
            tokens: The tokens it used (``None``: as estimated).
            headers: The response's headers, or ``None``.
        """
        now = time.monotonic()
        with self._lock:
            handle.answered = now
            if tokens is not None:
                handle.tokens = tokens
            if headers is not None:
                self._learn(headers, now)

    def statistics(self) -> RateLimitStatistics:
        """Requests let through and seconds waited in all, so far."""
        with self._lock:
            return RateLimitStatistics(self._counters.requests, self._counters.waited)

    def _delay(self, tokens: int, now: float) -> float:
        """Seconds until a request of ``tokens`` fits (``<= 0``: now); under the lock."""
        window = self.limit.window
        self._entries = [
            e for e in self._entries if e.answered is None or e.answered + window > now
        ]
        delay = 0.0
        for name, cost in (("requests", 1), ("tokens", tokens)):
            learned = self._counters.learned[name]
            if learned.reset_at is not None and learned.reset_at <= now:
                learned.remaining, learned.reset_at = learned.limit, None
            if learned.remaining is not None and learned.remaining < cost:
                if learned.reset_at is not None:
                    delay = max(delay, learned.reset_at - now)
                elif any(e.answered is None for e in self._entries):
                    delay = max(delay, _POLL)  # an answer will tell the reset time
            budget = self.limit.requests if name == "requests" else self.limit.tokens
            delay = max(delay, self._window_delay(name, cost, budget, now))
        return delay

    def _window_delay(self, name: str, cost: int, budget: int | None, now: float) -> float:
        """Seconds until ``cost`` more of ``name`` fits the window's ``budget``."""
        if budget is None:
            return 0.0
        cost = min(cost, budget)  # a request larger than the budget waits for an empty window
        used = 0
        for entry in self._entries:
            used += 1 if name == "requests" else entry.tokens
        if used + cost <= budget:
            return 0.0
        over = used + cost - budget
        for entry in sorted(self._entries, key=lambda e: e.answered or float("inf")):
            if entry.answered is None:
                return _POLL  # only requests in flight hold the budget: look again soon
            over -= 1 if name == "requests" else entry.tokens
            if over <= 0:
                return entry.answered + self.limit.window - now
        return _POLL

    def _learn(self, headers: Mapping[str, str], now: float) -> None:
        """Take the limit, remaining budget and reset time from ``x-ratelimit-*``."""
        in_flight = [e for e in self._entries if e.answered is None]
        for name in ("requests", "tokens"):
            learned = self._counters.learned[name]
            limit = _int(headers.get(f"x-ratelimit-limit-{name}"))
            if limit is not None:
                learned.limit = limit
            remaining = _int(headers.get(f"x-ratelimit-remaining-{name}"))
            reset = parse_reset(headers.get(f"x-ratelimit-reset-{name}"))
            if remaining is None or reset is None:
                continue
            # Requests still in flight may not have reached the server yet: count them.
            pending = sum(1 if name == "requests" else e.tokens for e in in_flight)
            learned.remaining = remaining - pending
            learned.reset_at = now + reset


def _int(value: str | None) -> int | None:
    try:
        return None if value is None else int(float(value))
    except ValueError:
        return None


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_reset(value: str | None) -> float | None:
    """Seconds in an ``x-ratelimit-reset-*`` value: ``"1s"``, ``"6m0s"``, ``"20ms"``, ``"0.5"``.

    Example:
        >>> parse_reset("1m30s"), parse_reset("250ms"), parse_reset("2"), parse_reset("x")
        (90.0, 0.25, 2.0, None)
    """
    if value is None:
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(number) * scale[unit] for number, unit in parts)


def estimate_tokens(messages: list[dict[str, Any]], options: Mapping[str, Any]) -> int:
    """A request's tokens before it is sent, as providers estimate them.

    Its prompt at about 4 characters a token, plus ``max_completion_tokens`` or
    ``max_tokens`` (1,000 if neither is set).

    Example:
        >>> estimate_tokens([{"role": "user", "content": "hi"}], {"max_tokens": 50})
        58
    """
    prompt = len(json.dumps(messages, default=str)) // 4
    completion = options.get("max_completion_tokens") or options.get("max_tokens")
    return prompt + int(completion or _DEFAULT_COMPLETION_TOKENS)


class Turn:
    """One request's turn at a :class:`RateLimiter` (``None``: no limiter), for ``chat``.

    :meth:`take` waits for it and records the seconds waited on ``span`` as
    ``actorchestra.llm.rate_limit.wait``; :meth:`headers` keeps the response's headers;
    :meth:`done` gives the limiter the answer (the usage's ``total_tokens``, the headers,
    or an error's).
    """

    __slots__ = ("_handle", "_headers", "limiter")

    def __init__(self, limiter: RateLimiter | None) -> None:
        self.limiter = limiter
        self._handle: Permit | None = None
        self._headers: Mapping[str, str] | None = None

    def take(
        self,
        span: Span,
        cancellation: Cancellation | None,
        messages: list[dict[str, Any]],
        options: Mapping[str, Any],
    ) -> None:
        """Wait for the turn (see :meth:`RateLimiter.acquire`).

        Raises:
            TaskCancelled: The attempt was cancelled while waiting.
            TaskError: No turn within ``max_wait`` (retryable).
        """
        if self.limiter is None:
            return
        try:
            self._handle, waited = self.limiter.acquire(
                estimate_tokens(messages, options), cancellation
            )
        except TimeoutError as exc:
            raise TaskError(f"Rate limit: {exc}", retryable=True) from None
        span.set_attribute("actorchestra.llm.rate_limit.wait", waited)

    def headers(self, headers: Mapping[str, str]) -> None:
        """Keep the response's headers (in the thread making the request)."""
        self._headers = headers

    def done(self, tokens: int | None, error: BaseException | None = None) -> None:
        """Tell the limiter the request was answered with ``tokens`` or ``error``."""
        if self.limiter is None or self._handle is None:
            return
        headers = self._headers
        if isinstance(error, openai.APIStatusError):
            headers = error.response.headers
        self.limiter.answered(self._handle, tokens, headers)
