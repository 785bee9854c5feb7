"""Idempotent side effects: a tool call runs at most once per idempotency key."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from ._errors import TaskError

__all__ = ["IdempotencyStore", "InMemoryIdempotencyStore", "idempotency_key"]


def idempotency_key(workflow_id: str, task_id: str, tool: str, arguments: str) -> str:
    """The key of one tool call: workflow, task, tool and a digest of its arguments.

    The same call in a retried attempt, or after the agent restarted, has the same key;
    ``arguments`` should be canonical JSON (sorted keys, no spaces), as
    :meth:`actors.Tool.invoke` makes it.
    """
    digest = hashlib.sha256(arguments.encode()).hexdigest()[:32]
    return f"{workflow_id}/{task_id}/{tool}/{digest}"


class IdempotencyStore(Protocol):
    """Where results of side-effecting calls are kept, by idempotency key.

    Implementations must be thread-safe: attempts of one task may overlap (a timed-out
    attempt can still be running when its retry starts).
    """

    def run_once(self, key: str, call: Callable[[], str], timeout: float) -> str:
        """Return the result stored for ``key``, or run ``call`` once and store it.

        Args:
            key: The idempotency key.
            call: The side effect; its result (JSON text) is stored.
            timeout: Seconds to wait for another caller running ``key`` right now.

        Raises:
            TaskError: (retryable) another caller is still running ``key`` after
                ``timeout``. Whatever ``call`` raises propagates, and nothing is stored,
                so a later attempt may run it again.
        """
        ...


class InMemoryIdempotencyStore:
    """The in-process store: results live as long as the process (or until evicted).

    Args:
        max_entries: Completed results kept at most; the least recently used go first
            (a call retried after its result was evicted would run again). Calls in
            progress are never evicted.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._done: OrderedDict[str, str] = OrderedDict()
        self._running: dict[str, threading.Event] = {}
        self.max_entries = max_entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._done)

    def run_once(self, key: str, call: Callable[[], str], timeout: float = 60.0) -> str:
        """See :meth:`IdempotencyStore.run_once`."""
        while True:
            with self._lock:
                if key in self._done:
                    self._done.move_to_end(key)
                    return self._done[key]
                running = self._running.get(key)
                if running is None:
                    running = self._running[key] = threading.Event()
                    break
            if not running.wait(timeout):
                msg = f"Side effect {key!r} is still running in another attempt after {timeout} s."
                raise TaskError(msg, retryable=True)
        try:
            result = call()
        except BaseException:
            with self._lock:
                del self._running[key]
            running.set()
            raise
        with self._lock:
            self._done[key] = result
            del self._running[key]
            while len(self._done) > self.max_entries:
                self._done.popitem(last=False)
        running.set()
        return result
