"""The event log in SQLite: appended by one writer thread, committed in groups."""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, cast

from bus import Envelope, Event, WorkflowFinished, WorkflowStarted, parse_event, to_wire

from ._database import connect, transaction
from ._errors import MemoryStoreError
from ._event_log import Retention, WorkflowInfo

__all__ = ["SQLiteEventLog"]

logger = logging.getLogger(__name__)

_MAX_BATCH = 2_000
_WRITE_ATTEMPTS = 5
_Status = Literal["running", "completed", "failed", "cancelled"]


class SQLiteEventLog:
    """An :class:`EventLog` in a SQLite file (it may share the file with :class:`SQLiteStore`).

    **Durability (the fsync policy).** ``append`` only enqueues (≈ 1 µs in the
    publisher's thread); one writer thread takes everything queued and commits it as one
    transaction (group commit), then the next group. The file is in WAL mode with
    ``synchronous=NORMAL``: SQLite does not fsync on each commit, only at checkpoints, so
    a committed group survives the process being killed (``kill -9``) but the last groups
    may be lost on power loss or an OS crash. An event is committed a few milliseconds
    after it was published; :meth:`flush` waits for it. If the process dies, what is in
    the file is a prefix of the publish order, so causes always come before their effects.

    A write that fails (disk full, I/O error) is retried 5 times over about 3 s, then
    logged at ERROR with the number of events lost, and counted in :attr:`lost`.

    Args:
        path: The database file (created if missing).
        retention: A policy the writer applies every ``retain_every`` seconds; ``None``
            keeps everything (call :meth:`retain` yourself).
        retain_every: Seconds between automatic retention runs.
        clock: Seconds since the epoch (for tests of retention by age).

    Raises:
        StoreFileError: The file is not a usable memory file (see :func:`connect`).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        retention: Retention | None = None,
        retain_every: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = str(path)
        self.retention = retention
        self.retain_every = retain_every
        self.lost = 0
        self._clock = clock
        self._writer_db = connect(self.path)
        self._writer_lock = threading.Lock()
        self._reader_db = connect(self.path)
        self._reader_lock = threading.Lock()
        self._queue: queue.SimpleQueue[Envelope[Event] | threading.Event | None] = (
            queue.SimpleQueue()
        )
        self._append_lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(
            target=self._write_loop, name=f"event-log {self.path}", daemon=True
        )
        self._thread.start()

    # -- writing ---------------------------------------------------------------------

    def append(self, envelope: Envelope[Event]) -> None:
        """See :meth:`EventLog.append`."""
        with self._append_lock:
            if self._closed:
                self._raise_closed()
            self._queue.put(envelope)

    def _raise_closed(self) -> None:
        msg = f"Event log {self.path!r} is closed; close it after the bus's publishers stopped."
        raise MemoryStoreError(msg)

    def _write_loop(self) -> None:
        get = self._queue.get
        get_nowait = self._queue.get_nowait
        next_retention = time.monotonic() + self.retain_every
        while True:
            item = get()
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
                self._write(batch)
            for waiter in waiters:
                waiter.set()
            if self.retention is not None and time.monotonic() >= next_retention:
                next_retention = time.monotonic() + self.retain_every
                self._retain_logged(self.retention)
            if stop:
                return

    def _write(self, batch: list[Envelope[Event]]) -> None:
        rows: list[tuple[str, str, str, float, str]] = []
        started: list[tuple[str, str, str, float]] = []
        finished: list[tuple[str, float, str]] = []
        for envelope in batch:
            event = to_wire(envelope)
            at = event.time.timestamp()
            rows.append((event.workflow_id, event.task_id, event.type, at, event.model_dump_json()))
            if isinstance(event, WorkflowStarted):
                started.append((event.workflow_id, event.name, "running", at))
            elif isinstance(event, WorkflowFinished):
                finished.append((event.status, at, event.workflow_id))
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                with self._writer_lock, transaction(self._writer_db, self.path) as db:
                    db.executemany(
                        "INSERT INTO events (workflow_id, task_id, type, time, data) "
                        "VALUES (?, ?, ?, ?, ?)",
                        rows,
                    )
                    db.executemany(
                        "INSERT OR IGNORE INTO workflows VALUES (?, ?, ?, ?, NULL)", started
                    )
                    db.executemany(
                        "UPDATE workflows SET status = ?, finished_at = ? WHERE id = ?", finished
                    )
            except (sqlite3.Error, MemoryStoreError):
                if attempt + 1 < _WRITE_ATTEMPTS:
                    time.sleep(0.2 * 2**attempt)
                    continue
                self.lost += len(rows)
                logger.exception(
                    "Event log %s lost %d events after %d failed writes",
                    self.path,
                    len(rows),
                    _WRITE_ATTEMPTS,
                )
            return

    def flush(self, timeout: float = 30.0) -> None:
        """See :meth:`EventLog.flush`."""
        done = threading.Event()
        with self._append_lock:
            if self._closed:
                self._raise_closed()
            self._queue.put(done)
        if not done.wait(timeout):
            msg = f"Event log {self.path!r} did not write its queue within {timeout} s."
            raise MemoryStoreError(msg)

    # -- reading ---------------------------------------------------------------------

    def _read(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._reader_lock:
            try:
                return self._reader_db.execute(sql, args).fetchall()
            except sqlite3.ProgrammingError as exc:
                raise MemoryStoreError(str(exc)) from exc

    def events(self, workflow_id: str, task_id: str | None = None) -> list[Event]:
        """See :meth:`EventLog.events`."""
        self.flush()
        if task_id is None:
            rows = self._read(
                "SELECT data FROM events WHERE workflow_id = ? ORDER BY seq", (workflow_id,)
            )
        else:
            rows = self._read(
                "SELECT data FROM events WHERE workflow_id = ? AND task_id = ? ORDER BY seq",
                (workflow_id, task_id),
            )
        return [parse_event(str(row[0])) for row in rows]

    def workflows(self) -> list[WorkflowInfo]:
        """See :meth:`EventLog.workflows`."""
        self.flush()
        rows = self._read(
            "SELECT id, name, status, started_at, finished_at FROM workflows "
            "ORDER BY started_at, rowid"
        )
        return [
            WorkflowInfo(
                str(id_),
                str(name),
                cast("_Status", status),
                float(cast("float", started)),
                None if finished is None else float(cast("float", finished)),
            )
            for id_, name, status, started, finished in rows
        ]

    def __len__(self) -> int:
        """Events in the log (after a flush)."""
        self.flush()
        return int(cast("int", self._read("SELECT COUNT(*) FROM events")[0][0]))

    # -- bounded growth ----------------------------------------------------------------

    def retain(self, policy: Retention) -> int:
        """See :meth:`EventLog.retain`; compaction returns freed pages to the file system."""
        self.flush()
        return self._retain(policy)

    def _retain_logged(self, policy: Retention) -> None:
        try:
            removed = self._retain(policy)
        except (sqlite3.Error, MemoryStoreError):
            logger.exception("Event log %s: retention failed; will try again", self.path)
        else:
            logger.debug("Event log %s: retention removed %d events", self.path, removed)

    def _retain(self, policy: Retention) -> int:
        conditions: list[str] = []
        args: list[object] = []
        if policy.max_age is not None:
            conditions.append("finished_at < ?")
            args.append(self._clock() - policy.max_age)
        if policy.max_workflows is not None:
            conditions.append(
                "id NOT IN (SELECT id FROM workflows WHERE finished_at IS NOT NULL "
                "ORDER BY finished_at DESC LIMIT ?)"
            )
            args.append(policy.max_workflows)
        loose = "(workflow_id = '' OR workflow_id NOT IN (SELECT id FROM workflows))"
        with self._writer_lock, transaction(self._writer_db, self.path) as db:
            removed = 0
            if conditions:
                db.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS doomed (id TEXT PRIMARY KEY)",
                )
                db.execute("DELETE FROM doomed")
                where = " OR ".join(conditions)  # literal conditions, never user text
                select = f"SELECT id FROM workflows WHERE finished_at NOT NULL AND ({where})"  # noqa: S608
                db.execute("INSERT INTO doomed " + select, args)
                removed += db.execute(
                    "DELETE FROM events WHERE workflow_id IN (SELECT id FROM doomed)"
                ).rowcount
                db.execute("DELETE FROM effects WHERE workflow_id IN (SELECT id FROM doomed)")
                db.execute("DELETE FROM workflows WHERE id IN (SELECT id FROM doomed)")
            if policy.max_age is not None:
                removed += db.execute(
                    f"DELETE FROM events WHERE {loose} AND time < ?",  # noqa: S608
                    (self._clock() - policy.max_age,),
                ).rowcount
            removed += db.execute(
                f"DELETE FROM events WHERE {loose} AND seq NOT IN "  # noqa: S608
                f"(SELECT seq FROM events WHERE {loose} ORDER BY seq DESC LIMIT ?)",
                (policy.max_loose_events,),
            ).rowcount
        with self._writer_lock:
            self._writer_db.execute("PRAGMA incremental_vacuum")
            self._writer_db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed

    # -- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        """See :meth:`EventLog.close`."""
        with self._append_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join()
        with self._writer_lock, self._reader_lock:
            self._writer_db.close()
            self._reader_db.close()
