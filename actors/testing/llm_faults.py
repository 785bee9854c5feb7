"""LLM fault injection for the local OpenAI-compatible server: per request, scripted or seeded."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from actors._errors import ConfigurationError

from .llm_server import Reply, Responder, tool_names

__all__ = ["LLM_FAULTS", "LLMFaults"]

LLM_FAULTS = (
    "rate_limit",
    "server_error",
    "slow",
    "drop",
    "bad_tool_arguments",
    "bad_output",
    "unknown_tool",
)
"""The fault kinds: HTTP 429 with ``Retry-After``; HTTP 500; an answer slower than the
client's timeout; a connection closed with no answer; a tool call whose arguments are not
JSON; a final answer that fails the requested schema; a call to a tool nobody offered."""


class LLMFaults:
    """A :data:`Responder` that injects faults into another responder's replies.

    The fault kinds are ``rate_limit`` (HTTP 429 with ``Retry-After``), ``server_error``
    (HTTP 500), ``slow`` (an answer later than the client's timeout), ``drop`` (the
    connection closed with no answer), ``bad_tool_arguments`` (a tool call whose
    arguments are not JSON), ``bad_output`` (a final answer that fails the requested
    schema) and ``unknown_tool`` (a call to a tool nobody offered).

    Request *i* (counted from 0) gets ``script[i]`` while the script lasts, then a fault
    drawn with ``probabilities`` from a ``random.Random(seed)`` — the same seed gives
    the same faults for the same sequence of requests. ``None`` means no fault.

    Args:
        responder: The well-behaved responder.
        script: Fault kinds (or ``None``) for the first requests.
        probabilities: Fault kind → probability per request after the script.
        seed: Seed of the draws.
        retry_after: Seconds in the ``Retry-After`` header of a rate limit.
        slow_seconds: How late a slow answer comes, in seconds.

    Raises:
        ConfigurationError: An unknown fault kind, or probabilities summing past 1.

    Attributes:
        log: ``(arrival time, fault)`` per request, in arrival order (monotonic seconds).
    """

    def __init__(
        self,
        responder: Responder,
        *,
        script: Sequence[str | None] = (),
        probabilities: Mapping[str, float] | None = None,
        seed: int = 0,
        retry_after: float = 0.05,
        slow_seconds: float = 2.0,
    ) -> None:
        probabilities = dict(probabilities or {})
        unknown = sorted({k for k in [*script, *probabilities] if k is not None} - set(LLM_FAULTS))
        if unknown:
            msg = f"Unknown LLM fault kinds {unknown}; use those in LLM_FAULTS."
            raise ConfigurationError(msg)
        if sum(probabilities.values()) > 1 or min(probabilities.values(), default=0) < 0:
            msg = f"LLM fault probabilities {probabilities} must be >= 0 and sum to at most 1."
            raise ConfigurationError(msg)
        self._responder = responder
        self._script = list(script)
        self._probabilities = probabilities
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._count = 0
        self.retry_after = retry_after
        self.slow_seconds = slow_seconds
        self.log: list[tuple[float, str | None]] = []

    def _next_fault(self) -> str | None:
        with self._lock:
            i = self._count
            self._count += 1
            if i < len(self._script):
                fault = self._script[i]
            else:
                x = self._rng.random()
                fault = None
                for kind, p in self._probabilities.items():
                    if x < p:
                        fault = kind
                        break
                    x -= p
            self.log.append((time.monotonic(), fault))
            return fault

    def __call__(self, request: dict[str, Any]) -> Reply:
        """The reply to ``request``, with this request's fault if one is due."""
        fault = self._next_fault()
        if fault == "rate_limit":
            return Reply.error(429, retry_after=self.retry_after)
        if fault == "server_error":
            return Reply.error(500)
        if fault == "drop":
            return Reply.dropped()
        if fault == "unknown_tool":
            return Reply.calls(("no_such_tool", {}))
        offered = tool_names(request)
        if fault == "bad_tool_arguments" and offered:
            return Reply.calls((offered[0], '{"not": json'))
        if fault in ("bad_output", "bad_tool_arguments"):
            return Reply.text("Here is my answer, in prose rather than the JSON you asked for.")
        reply = self._responder(request)
        if fault == "slow":
            return replace(reply, delay=self.slow_seconds)
        return reply
