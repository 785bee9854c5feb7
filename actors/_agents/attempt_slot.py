"""An agent's attempt in progress, and the cancel requests that came before theirs started."""

from __future__ import annotations

import collections
import threading

from actors._orchestration.identity import same_token

from .cancellation import Cancellation

__all__ = ["AttemptSlot"]

Key = tuple[str, str, int]  # workflow, task, attempt


class AttemptSlot:
    """Where a ``CancelRequested`` finds the attempt it names (thread-safe).

    Cancel requests bypass the agent's mailbox (busy with an attempt), so one may come
    while the ``TaskStarted`` it names still waits there: a replica that lost a race
    before its agent took it, an attempt timed out in the queue. Such a request is kept
    (the latest ``limit`` of them, by token) and that attempt starts cancelled, so it
    ends as cancelled without running. Only the attempt's token cancels it.

    Args:
        limit: Early requests kept at most (the oldest are forgotten).
    """

    def __init__(self, limit: int = 1024) -> None:
        self._lock = threading.Lock()
        self._current: tuple[Key, str, Cancellation] | None = None
        self._early: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._limit = limit

    def start(self, key: Key, token: str, cancellation: Cancellation) -> None:
        """Hold the attempt ``key`` with ``token``; cancel it now if a request came first."""
        with self._lock:
            self._current = (key, token, cancellation)
            reason = self._early.pop(token, None) if token else None
        if reason is not None:
            cancellation.cancel(reason)

    def finish(self) -> None:
        """The attempt ended."""
        with self._lock:
            self._current = None

    def cancel(self, key: Key, token: str, reason: str) -> None:
        """Cancel attempt ``key`` if ``token`` is its; keep the request if it did not start."""
        with self._lock:
            current = self._current
            if current is not None and current[0] == key and same_token(current[1], token):
                cancellation: Cancellation | None = current[2]
            else:
                cancellation = None
                if token:
                    self._early[token] = reason
                    while len(self._early) > self._limit:
                        self._early.popitem(last=False)
        if cancellation is not None:
            cancellation.cancel(reason)
