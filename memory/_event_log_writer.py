"""The SQLite event log's writer thread: its queue, group commits, retries and flush at exit."""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable

from bus import Event
from bus.lowlevel import Envelope

from ._database import transaction
from ._errors import MemoryStoreError
from ._event_log_rows import EventRows
from ._exit_flush import flush_at_exit, forget_at_exit

__all__ = ["EventLogWriter"]

logger = logging.getLogger(__name__)

_MAX_BATCH = 2_000
_WRITE_ATTEMPTS = 5


class EventLogWriter:
    """The one thread that writes a :class:`SQLiteEventLog`, fed by a queue.

    The policy (group commit, retries, backpressure, the flush at exit) is documented on
    :class:`SQLiteEventLog`, whose attributes of the same names read and set these.

    Args:
        path: The database file (for messages and the thread's name).
        db: The connection to write with.
        db_lock: The lock that serializes use of ``db``.
        commit_interval: Seconds to wait after a group's first event for more.
        max_pending: Events appended but not yet written, at most.
        after_group: Called in the writer thread after each group is written (and when
            there was nothing to write); it must not raise.
    """

    def __init__(
        self,
        path: str,
        db: sqlite3.Connection,
        db_lock: threading.Lock,
        *,
        commit_interval: float,
        max_pending: int,
        after_group: Callable[[], None],
    ) -> None:
        self.path = path
        self.commit_interval = commit_interval
        self.max_pending = max_pending
        self.lost = 0
        self._db = db
        self._db_lock = db_lock
        self._after_group = after_group
        self._queue: queue.SimpleQueue[Envelope[Event] | threading.Event | None] = (
            queue.SimpleQueue()
        )
        self._pending = 0  # events appended, not yet written
        self._append_lock = threading.Condition(threading.Lock())
        self._closed = False
        self._thread = threading.Thread(
            target=self._write_loop, name=f"event-log {self.path}", daemon=True
        )
        self._thread.start()
        flush_at_exit(self, self.path)

    def append(self, envelope: Envelope[Event]) -> None:
        """Queue ``envelope``; waits while ``max_pending`` events are unwritten.

        Raises:
            MemoryStoreError: The log is closed, or its writer thread is gone.
        """
        with self._append_lock:
            while self._pending >= self.max_pending and not self._closed:
                if not self._thread.is_alive():
                    msg = f"Event log {self.path!r} has no writer thread; events would be lost."
                    raise MemoryStoreError(msg)
                self._append_lock.wait(1.0)
            if self._closed:
                self._raise_closed()
            self._pending += 1
            self._queue.put(envelope)

    def flush(self, timeout: float) -> None:
        """Wait until everything queued so far is written.

        Raises:
            MemoryStoreError: Not done within ``timeout`` seconds, or the log is closed.
        """
        done = threading.Event()
        with self._append_lock:
            if self._closed:
                self._raise_closed()
            self._queue.put(done)
        if not done.wait(timeout):
            msg = f"Event log {self.path!r} did not write its queue within {timeout} s."
            raise MemoryStoreError(msg)

    def close(self) -> bool:
        """Write what is queued, then end the thread; ``False`` if it was closed before."""
        with self._append_lock:
            if self._closed:
                return False
            self._closed = True
            self._queue.put(None)
        forget_at_exit(self)
        self._thread.join()
        return True

    def _raise_closed(self) -> None:
        msg = f"Event log {self.path!r} is closed; close it after the bus's publishers stopped."
        raise MemoryStoreError(msg)

    def _write_loop(self) -> None:
        get = self._queue.get
        get_nowait = self._queue.get_nowait
        while True:
            item = get()
            if isinstance(item, Envelope) and self.commit_interval > 0:
                time.sleep(self.commit_interval)  # let a group gather: one commit for it
            batch: list[Envelope[Event]] = []
            waiters: list[threading.Event] = []
            stop = False
            while True:
                if item is None:
                    stop = True
                    break
                if isinstance(item, threading.Event):
                    waiters.append(item)
                else:
                    batch.append(item)
                    if len(batch) >= _MAX_BATCH:
                        break
                try:
                    item = get_nowait()
                except queue.Empty:
                    break
            if batch:
                try:
                    self._write(batch)
                except Exception:  # the writer must outlive any one bad batch
                    self.lost += len(batch)
                    logger.exception("Event log %s lost %d events", self.path, len(batch))
                with self._append_lock:
                    full = self._pending >= self.max_pending
                    self._pending -= len(batch)
                    if full:
                        self._append_lock.notify_all()
            for waiter in waiters:
                waiter.set()
            self._after_group()
            if stop:
                return

    def _write(self, batch: list[Envelope[Event]]) -> None:
        rows = EventRows.of(batch)
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                with self._db_lock, transaction(self._db, self.path) as db:
                    rows.insert(db)
            except (sqlite3.Error, MemoryStoreError):
                if attempt + 1 < _WRITE_ATTEMPTS:
                    time.sleep(0.2 * 2**attempt)
                    continue
                self.lost += len(batch)
                logger.exception(
                    "Event log %s lost %d events after %d failed writes",
                    self.path,
                    len(batch),
                    _WRITE_ATTEMPTS,
                )
            return
