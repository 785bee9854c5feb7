"""The timer thread: runs callbacks after delays, for timeouts, retries and restarts.

One thread serves any number of timers (a heap of deadlines), so 30,000 tasks with a
timeout each cost one thread, not 30,000. :data:`TIMERS` is the process's one timer
thread, shared by every orchestrator (attempt and approval timeouts, retry backoff)
and every supervisor (restart backoff).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["TIMERS", "Scheduler", "TimerHandle"]

logger = logging.getLogger(__name__)

_IDLE_GRACE = 1.0  # seconds the thread waits with no timer pending before it ends


@dataclass(slots=True, eq=False)
class TimerHandle:
    """A scheduled callback; :meth:`cancel` it to skip it."""

    deadline: float
    callback: Callable[[], None]
    scheduler: Scheduler | None = field(default=None, repr=False)
    cancelled: bool = False
    generation: int = 0  # the scheduler's, when scheduled (a fork starts a new one)

    def cancel(self) -> None:
        """Skip the callback if it has not run yet."""
        scheduler = self.scheduler
        if scheduler is None:
            self.cancelled = True
        else:
            scheduler._cancel(self)


class Scheduler:
    """Runs callbacks at monotonic deadlines in one thread, started when needed.

    The thread ends within about two seconds of the last pending timer running or being
    cancelled, so a process whose teams all stopped keeps no timer thread; the next
    timer starts one.

    Callbacks run in the scheduler's thread, one at a time, and must not block (tell an
    actor instead); an exception a callback raises is logged at ERROR and the thread
    goes on.

    Args:
        name: The thread's name.
    """

    def __init__(self, name: str = "actorchestra-scheduler") -> None:
        self._name = name
        # (deadline, seq, handle): tuples compare in C, a dataclass's order in Python.
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._cancelled = 0
        self._generation = 0

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` after ``delay`` seconds (at once if ``delay`` <= 0).

        Raises:
            RuntimeError: The scheduler was stopped.
        """
        handle = TimerHandle(time.monotonic() + max(0.0, delay), callback, self)
        entry = (handle.deadline, next(self._seq), handle)
        with self._cond:
            handle.generation = self._generation
            if self._stopped:
                msg = f"Scheduler {self._name!r} is stopped; it runs no more timers."
                raise RuntimeError(msg)
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._start_thread()
            elif self._heap[0] is entry:
                self._cond.notify()
        return handle

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel every pending timer and end the thread (within ``timeout`` seconds)."""
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _cancel(self, handle: TimerHandle) -> None:
        # Cancelled timers stay in the heap until due; a service that cancels most of
        # its timeouts (every task that ends in time) would pile them up for the whole
        # timeout. Past half the heap, drop them: O(n) now and then, O(1) amortized.
        # Under the lock, so the count of cancelled timers in the heap stays exact.
        with self._cond:
            if handle.cancelled:
                return
            handle.cancelled = True
            if handle.scheduler is None or handle.generation != self._generation:
                return  # out of the heap already: it ran, is running, or is the parent's
            self._cancelled += 1
            if self._cancelled > 1024 and self._cancelled * 2 > len(self._heap):
                self._heap = [e for e in self._heap if not e[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def pending(self) -> int:
        """Timers scheduled and not yet run (cancelled ones included until due)."""
        with self._cond:
            return len(self._heap)

    def _run(self) -> None:
        try:
            self._loop()
        finally:  # a callback's BaseException ended it: the timers still run
            with self._cond:
                if self._thread is threading.current_thread():
                    self._thread = None
                    if self._heap and not self._stopped:
                        self._start_thread()

    def _start_thread(self) -> None:  # with self._cond held
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    if self._cancelled >= len(self._heap):  # nothing left to run
                        self._heap.clear()
                        self._cancelled = 0
                        # Idle: end after a grace period (a busy team sets and cancels
                        # timers all the time; a thread per burst would cost more).
                        self._cond.wait(_IDLE_GRACE)
                        if not self._heap and not self._stopped:
                            self._thread = None  # under the lock: call_later starts anew
                            return
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        break
                    # Wake at least every grace period to notice that all were cancelled.
                    self._cond.wait(min(wait, _IDLE_GRACE))
                if self._stopped:
                    return
                _, _, handle = heapq.heappop(self._heap)
                handle.scheduler = None  # out of the heap: a late cancel counts nothing
                if handle.cancelled:
                    self._cancelled -= 1
                    continue
            try:
                handle.callback()
            except Exception:
                logger.exception("Timer callback %r raised", handle.callback)

    def _after_fork_in_child(self) -> None:
        # The thread did not survive the fork; its timers belong to the parent.
        self._cond = threading.Condition()
        self._heap.clear()
        self._thread = None
        self._cancelled = 0
        self._generation += 1  # the parent's handles no longer count here


TIMERS = Scheduler("actorchestra-timers")
"""The process's timer thread (started on first use, a daemon; never stopped)."""

os.register_at_fork(after_in_child=TIMERS._after_fork_in_child)
