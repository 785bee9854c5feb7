"""Cooperative cancellation of one task attempt: a signal the agent checks and waits on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from actors._errors import TaskCancelled

__all__ = ["Cancellation", "call_cancellable"]

T = TypeVar("T")


class Cancellation:
    """Tells an attempt's code that it should stop: cancelled, timed out, or shutting down.

    Python threads cannot be killed, so stopping work is cooperative: an agent checks
    :attr:`cancelled` (or calls :meth:`raise_if_cancelled`) between steps and waits with
    :meth:`wait` instead of ``time.sleep``. :class:`LLMAgent` and :class:`Planner` check
    it before every model call and tool call and stop waiting for a model call in flight
    the moment it is cancelled. A handler that ignores it is the one thing that can
    delay a timeout's retry or a shutdown (see README, "Cancellation").

    The attempt's deadline (its timeout, counted from when the agent started it)
    cancels it too, with reason ``"timeout"``: no timer thread, it is checked on use.

    Args:
        deadline: ``time.monotonic()`` value past which the attempt is cancelled;
            ``None`` for none.

    Example:
        >>> c = Cancellation()
        >>> c.cancelled, c.remaining()
        (False, None)
        >>> c.cancel("by request")
        >>> c.cancelled, c.reason
        (True, 'by request')
    """

    __slots__ = ("_callbacks", "_cancelled", "_event", "_lock", "deadline", "reason")

    def __init__(self, deadline: float | None = None) -> None:
        self.deadline = deadline
        self.reason = ""
        self._cancelled = False
        self._lock = threading.Lock()
        self._event: threading.Event | None = None  # made by the first wait (most never do)
        self._callbacks: list[Callable[[], object]] = []

    @property
    def cancelled(self) -> bool:
        """Whether the attempt should stop (cancelled, or past its deadline)."""
        if self._cancelled:
            return True
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.cancel("timeout")
            return True
        return False

    def remaining(self) -> float | None:
        """Seconds left before the deadline (``0.0`` once cancelled); ``None`` for none."""
        if self._cancelled:
            return 0.0
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def cancel(self, reason: str) -> None:
        """Cancel the attempt (from any thread); the first reason given is kept."""
        with self._lock:
            if self._cancelled:
                return
            self.reason = reason
            self._cancelled = True
            event = self._event
            callbacks, self._callbacks = self._callbacks, []
        if event is not None:
            event.set()
        for callback in callbacks:
            callback()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds (and never past the deadline) for cancellation.

        Returns:
            Whether the attempt is cancelled (``time.sleep`` that wakes up for it).
        """
        with self._lock:
            if self._event is None:
                self._event = threading.Event()
                if self._cancelled:
                    self._event.set()
            event = self._event
        remaining = self.remaining()
        if remaining is not None and (timeout is None or remaining < timeout):
            timeout = remaining
        event.wait(timeout)
        return self.cancelled

    def raise_if_cancelled(self) -> None:
        """Raise :class:`TaskCancelled` if the attempt should stop.

        Raises:
            TaskCancelled: It is cancelled or past its deadline; the reason is in the
                message.
        """
        if self.cancelled:
            raise TaskCancelled(f"attempt cancelled: {self.reason}")

    def on_cancel(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Call ``callback`` (in the cancelling thread) when cancelled; at once if it is.

        Returns:
            A function that removes the callback.
        """
        with self._lock:
            if not self._cancelled:
                self._callbacks.append(callback)
                return lambda: self._remove(callback)
        callback()
        return lambda: None

    def _remove(self, callback: Callable[[], object]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)


def call_cancellable(call: Callable[[], T], cancellation: Cancellation, name: str) -> T:
    """Run a blocking ``call`` (a model request) so that cancellation stops the wait.

    The call runs in a daemon thread of its own; this thread returns its result, or
    raises what it raised, or — as soon as ``cancellation`` is cancelled or its deadline
    passes — raises :class:`TaskCancelled` and abandons the call. Give the call a
    timeout no longer than ``cancellation.remaining()`` so an abandoned one ends then.

    Raises:
        TaskCancelled: The attempt was cancelled first.
    """
    cancellation.raise_if_cancelled()
    outcome: list[tuple[bool, object]] = []
    woken = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # handed to the waiting thread
            outcome.append((False, exc))
        finally:
            woken.set()

    remove = cancellation.on_cancel(woken.set)
    try:
        threading.Thread(target=run, name=name, daemon=True).start()
        while not woken.wait(cancellation.remaining()) and not cancellation.cancelled:
            pass  # a spurious wake-up before the deadline
    finally:
        remove()
    if outcome:
        ok, value = outcome[0]
        if ok:
            return value  # type: ignore[return-value]
        raise value  # type: ignore[misc]
    cancellation.raise_if_cancelled()
    raise AssertionError("unreachable: woken without an outcome or a cancellation")
