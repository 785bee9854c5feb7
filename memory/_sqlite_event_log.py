"""The event log in SQLite: appended by one writer thread, committed in groups."""

from __future__ import annotations

import atexit
import json
import logging
import queue
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, cast

from bus import (
    EVENT_SCHEMA_VERSION,
    Envelope,
    Event,
    EventValidationError,
    WorkflowFinished,
    WorkflowStarted,
    event_class,
    read_stored_event,
    traceparent,
)

from ._database import connect, transaction
from ._errors import MemoryStoreError
from ._event_log import Retention, WorkflowInfo

__all__ = ["SQLiteEventLog"]

logger = logging.getLogger(__name__)

_MAX_BATCH = 2_000
_WRITE_ATTEMPTS = 5
_EXIT_FLUSH_TIMEOUT = 10.0
_Status = Literal["running", "completed", "failed", "cancelled"]

_OPEN: weakref.WeakSet[SQLiteEventLog] = weakref.WeakSet()
_OPEN_LOCK = threading.Lock()


@atexit.register
def _flush_open_logs() -> None:
    """At interpreter exit: write what open logs still hold (their writers are daemons)."""
    with _OPEN_LOCK:
        logs = list(_OPEN)
    for log in logs:
        try:
            log.flush(_EXIT_FLUSH_TIMEOUT)
        except Exception:  # one log's failure must not stop the others' flush
            logger.exception("Event log %s: events not written at exit", log.path)


class SQLiteEventLog:
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
    :func:`bus.read_stored_event`). A record this release cannot read — an event type
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
        self.commit_interval = commit_interval
        self.retention = retention
        self.retain_every = retain_every
        self.lost = 0
        self.skipped = 0
        self._skipped_types: set[str] = set()
        self._skip_lock = threading.Lock()
        self._clock = clock
        self._writer_db = connect(self.path)
        self._writer_lock = threading.Lock()
        self._reader_db = connect(self.path)
        self._reader_lock = threading.Lock()
        self._queue: queue.SimpleQueue[Envelope[Event] | threading.Event | None] = (
            queue.SimpleQueue()
        )
        self.max_pending = max_pending
        self._pending = 0  # events appended, not yet written
        self._append_lock = threading.Condition(threading.Lock())
        self._closed = False
        self._thread = threading.Thread(
            target=self._write_loop, name=f"event-log {self.path}", daemon=True
        )
        self._thread.start()
        with _OPEN_LOCK:
            _OPEN.add(self)

    # -- writing ---------------------------------------------------------------------

    def append(self, envelope: Envelope[Event]) -> None:
        """See :meth:`EventLog.append`; waits while ``max_pending`` events are unwritten.

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

    def _raise_closed(self) -> None:
        msg = f"Event log {self.path!r} is closed; close it after the bus's publishers stopped."
        raise MemoryStoreError(msg)

    def _write_loop(self) -> None:
        get = self._queue.get
        get_nowait = self._queue.get_nowait
        next_retention = time.monotonic() + self.retain_every
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
            if self.retention is not None and time.monotonic() >= next_retention:
                next_retention = time.monotonic() + self.retain_every
                self._retain_logged(self.retention)
            if stop:
                return

    def _write(self, batch: list[Envelope[Event]]) -> None:
        groups: dict[str, list[str]] = {}  # workflow id -> its events, in order
        newest: dict[str, float] = {}
        loose: list[tuple[str, float, int, str]] = []
        started: list[tuple[str, str, str, float]] = []
        finished: list[tuple[str, float, str]] = []
        for envelope in batch:
            event = envelope.event
            at = event.time.timestamp()
            parent, state = traceparent(envelope)
            quoted = json.dumps(state) if state else '""'
            entry = f'[{event.model_dump_json()},"{parent}",{quoted},{EVENT_SCHEMA_VERSION}]'
            workflow_id = event.workflow_id
            if not workflow_id:
                loose.append(("", at, 1, f"[{entry}]"))
                continue
            group = groups.get(workflow_id)
            if group is None:
                group = groups[workflow_id] = []
            group.append(entry)
            newest[workflow_id] = at
            if isinstance(event, WorkflowStarted):
                started.append((workflow_id, event.name, "running", at))
            elif isinstance(event, WorkflowFinished):
                finished.append((event.status, at, workflow_id))
        rows = loose + [
            (wid, newest[wid], len(entries), f"[{','.join(entries)}]")
            for wid, entries in groups.items()
        ]
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                with self._writer_lock, transaction(self._writer_db, self.path) as db:
                    db.executemany(
                        "INSERT INTO events (workflow_id, time, count, data) VALUES (?, ?, ?, ?)",
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
                self.lost += len(batch)
                logger.exception(
                    "Event log %s lost %d events after %d failed writes",
                    self.path,
                    len(batch),
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
        rows = self._read(
            "SELECT data FROM events WHERE workflow_id = ? ORDER BY seq", (workflow_id,)
        )
        events = []
        for (data,) in rows:
            try:
                entries = json.loads(str(data))
            except ValueError as exc:
                self._skip("", -1, exc)  # a damaged row
                continue
            for entry in entries:
                event = self._read_entry(entry, task_id)
                if event is not None:
                    events.append(event)
        return events

    def _read_entry(self, entry: Any, task_id: str | None) -> Event | None:  # noqa: ANN401 - JSON
        """One stored ``[event, traceparent, tracestate(, version)]``; ``None`` to skip.

        Raises:
            MemoryStoreError: It is of a known event type and still cannot be read
                (skipping it could make a resume repeat finished work).
        """
        try:
            # [event, traceparent, tracestate] (version 0) or [..., version]
            fields, parent, state = entry[0], entry[1], entry[2]
            version = int(entry[3]) if len(entry) > 3 else 0
            event_type = str(fields.get("type"))
        except (TypeError, KeyError, IndexError, ValueError, AttributeError) as exc:
            self._skip("", -1, exc)  # a damaged entry
            return None
        if task_id is not None and fields.get("task_id") != task_id:
            return None
        if parent:
            fields["traceparent"], fields["tracestate"] = parent, state
        try:
            return read_stored_event(fields, version)
        except EventValidationError as exc:
            if event_class(event_type) is not None:
                msg = (
                    f"Event log {self.path!r} holds a {event_type} event (schema version "
                    f"{version}) that this release cannot read: {exc}"
                )
                raise MemoryStoreError(msg) from None
            self._skip(event_type, version, exc)
            return None

    def _skip(self, event_type: str, version: int, exc: Exception) -> None:
        with self._skip_lock:
            self.skipped += 1
            if event_type in self._skipped_types:
                return
            self._skipped_types.add(event_type)
        logger.warning(
            "Event log %s: skipping records %s that this release cannot read (%s: %s); "
            "import the module defining an event type to read its records",
            self.path,
            f"of type {event_type!r} (schema version {version})" if event_type else "damaged",
            type(exc).__name__,
            exc,
        )

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

    def _retain(self, policy: Retention) -> int:
        now = self._clock()
        conditions: list[str] = []
        args: list[object] = []
        if policy.max_age is not None:
            conditions.append("finished_at < ?")
            args.append(now - policy.max_age)
        if policy.max_workflows is not None:
            conditions.append(
                "id NOT IN (SELECT id FROM workflows WHERE finished_at IS NOT NULL "
                "ORDER BY finished_at DESC LIMIT ?)"
            )
            args.append(policy.max_workflows)
        with self._writer_lock, transaction(self._writer_db, self.path) as db:
            db.execute("CREATE TEMP TABLE IF NOT EXISTS doomed (id TEXT PRIMARY KEY)")
            db.execute("DELETE FROM doomed")
            if conditions:
                where = " OR ".join(conditions)  # literal conditions, never user text
                select = f"SELECT id FROM workflows WHERE finished_at NOT NULL AND ({where})"  # noqa: S608
                db.execute("INSERT INTO doomed " + select, args)
            if policy.max_age is not None:  # workflows never started here, idle too long
                db.execute(
                    "INSERT OR IGNORE INTO doomed SELECT workflow_id FROM events "
                    "WHERE workflow_id != '' AND workflow_id NOT IN (SELECT id FROM workflows) "
                    "GROUP BY workflow_id HAVING MAX(time) < ?",
                    (now - policy.max_age,),
                )
            removed = self._delete_events(db, "workflow_id IN (SELECT id FROM doomed)", ())
            db.execute("DELETE FROM effects WHERE workflow_id IN (SELECT id FROM doomed)")
            db.execute("DELETE FROM workflows WHERE id IN (SELECT id FROM doomed)")
            if policy.max_age is not None:
                removed += self._delete_events(
                    db, "workflow_id = '' AND time < ?", (now - policy.max_age,)
                )
            removed += self._delete_events(
                db,
                "workflow_id = '' AND seq NOT IN (SELECT seq FROM events "
                "WHERE workflow_id = '' ORDER BY seq DESC LIMIT ?)",
                (policy.max_loose_events,),
            )
        with self._writer_lock:
            # executescript steps the pragma to its end; execute() would free one page only
            self._writer_db.executescript("PRAGMA incremental_vacuum;")
            self._writer_db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed

    @staticmethod
    def _delete_events(db: sqlite3.Connection, where: str, args: tuple[object, ...]) -> int:
        """Delete the event rows matching ``where`` (a literal condition); how many events."""
        count = db.execute(
            f"SELECT COALESCE(SUM(count), 0) FROM events WHERE {where}",  # noqa: S608
            args,
        ).fetchone()[0]
        db.execute(f"DELETE FROM events WHERE {where}", args)  # noqa: S608
        return int(count)

    # -- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        """See :meth:`EventLog.close`."""
        with self._append_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        with _OPEN_LOCK:
            _OPEN.discard(self)
        self._thread.join()
        with self._writer_lock, self._reader_lock:
            self._writer_db.close()
            self._reader_db.close()
