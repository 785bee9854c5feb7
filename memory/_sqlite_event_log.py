"""SQLiteEventLog: the event log in a SQLite file, read here and written by its writer thread."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, cast

from bus import Event
from bus.lowlevel import Envelope

from ._database import connect, transaction
from ._errors import MemoryStoreError
from ._event_log import Retention, WorkflowInfo
from ._event_log_retention import delete_retained
from ._event_log_rows import read_row
from ._event_log_writer import EventLogWriter
from ._stored_events import SkippedRecords, SkipsRecords

__all__ = ["SQLiteEventLog"]

logger = logging.getLogger(__name__)

_Status = Literal["running", "completed", "failed", "cancelled"]


class SQLiteEventLog(SkipsRecords):
    """An :class:`EventLog` in a SQLite file (it may share the file with :class:`SQLiteStore`).

    **Durability (the fsync policy).** ``append`` only enqueues (about 1 µs in the
    publisher's thread). One writer thread takes what was queued within
    ``commit_interval`` and commits it as one transaction (group commit), one row per
    workflow holding that workflow's new events in order. The file is in WAL mode with
    ``synchronous=NORMAL``: SQLite fsyncs at checkpoints, not at each commit, so a
    committed group survives the process being killed (``kill -9``), while on power loss
    or an OS crash the last groups may be lost. An event is committed within about
    ``commit_interval`` (5 ms) of its publication; :meth:`flush` waits for it. After a
    crash the file holds a prefix of the publish order: a cause is never missing while
    its effect is there.

    A write that fails (disk full, I/O error) is retried 5 times over about 3 s, then
    logged at ERROR with the number of events lost, and counted in :attr:`lost`. A log
    that is still open when the interpreter exits is flushed then (``atexit``, at most
    10 s), so a program that forgets :meth:`close` loses nothing it published.

    **Versions.** Each event is stored with :data:`bus.EVENT_SCHEMA_VERSION`; reading
    accepts every older version and newer ones as far as this release knows them (see
    :func:`bus.lowlevel.read_stored_event`). A record this release cannot read — an event type
    whose class is not imported, or a damaged record — is skipped by :meth:`events`,
    counted in :attr:`skipped` (once per read) and logged at WARNING once per event
    type; one of a known type that cannot be read raises :class:`MemoryStoreError`
    instead (skipping a ``TaskFinished`` would make a resume run that task again).

    Args:
        path: The database file (created if missing).
        retention: A policy the writer applies every ``retain_every`` seconds; ``None``
            keeps everything (call :meth:`retain` yourself).
        retain_every: Seconds between automatic retention runs.
        commit_interval: Seconds the writer waits after the first event of a group for
            more to arrive (one commit for the group, and no thread wake-up per event).
        max_pending: Events appended but not yet written, at most: past it ``append``
            waits for the writer (backpressure), so a publisher faster than the disk
            cannot grow memory without bound.
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
        commit_interval: float = 0.005,
        max_pending: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = str(path)
        self.retention = retention
        self.retain_every = retain_every
        self._skip = SkippedRecords(self.path)
        self._clock = clock
        self._writer_db = connect(self.path)
        self._writer_lock = threading.Lock()
        self._reader_db = connect(self.path)
        self._reader_lock = threading.Lock()
        self._next_retention = time.monotonic() + retain_every
        self._writer = EventLogWriter(
            self.path,
            self._writer_db,
            self._writer_lock,
            commit_interval=commit_interval,
            max_pending=max_pending,
            after_group=self._retain_when_due,
        )

    @property
    def commit_interval(self) -> float:
        """Seconds the writer waits after a group's first event for more (see Args)."""
        return self._writer.commit_interval

    @commit_interval.setter
    def commit_interval(self, value: float) -> None:
        self._writer.commit_interval = value

    @property
    def max_pending(self) -> int:
        """Events appended but not yet written, at most (see Args)."""
        return self._writer.max_pending

    @max_pending.setter
    def max_pending(self, value: int) -> None:
        self._writer.max_pending = value

    @property
    def lost(self) -> int:
        """Events the writer could not write (each loss is logged at ERROR)."""
        return self._writer.lost

    @lost.setter
    def lost(self, value: int) -> None:
        self._writer.lost = value

    # -- writing ---------------------------------------------------------------------

    def append(self, envelope: Envelope[Event]) -> None:
        """See :meth:`EventLog.append`; waits while ``max_pending`` events are unwritten.

        Raises:
            MemoryStoreError: The log is closed, or its writer thread is gone.
        """
        self._writer.append(envelope)

    def flush(self, timeout: float = 30.0) -> None:
        """See :meth:`EventLog.flush`."""
        self._writer.flush(timeout)

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
        rows = self._read(
            "SELECT data FROM events WHERE workflow_id = ? ORDER BY seq", (workflow_id,)
        )
        events: list[Event] = []
        for (data,) in rows:
            events.extend(read_row(data, task_id, self.path, self._skip))
        return events

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
        return int(cast("int", self._read("SELECT COALESCE(SUM(count), 0) FROM events")[0][0]))

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

    def _retain_when_due(self) -> None:
        """In the writer thread, after each group: apply :attr:`retention` when it is due."""
        if self.retention is not None and time.monotonic() >= self._next_retention:
            self._next_retention = time.monotonic() + self.retain_every
            self._retain_logged(self.retention)

    def _retain(self, policy: Retention) -> int:
        now = self._clock()
        with self._writer_lock, transaction(self._writer_db, self.path) as db:
            removed = delete_retained(db, policy, now)
        with self._writer_lock:
            # executescript steps the pragma to its end; execute() would free one page only
            self._writer_db.executescript("PRAGMA incremental_vacuum;")
            self._writer_db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed

    # -- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        """See :meth:`EventLog.close`."""
        if not self._writer.close():
            return
        with self._writer_lock, self._reader_lock:
            self._writer_db.close()
            self._reader_db.close()
