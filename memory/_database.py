"""The SQLite file every durable part of :mod:`memory` shares: opening, schema, migrations."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from ._errors import MemoryStoreError, StoreFileError

__all__ = ["SCHEMA_VERSION", "connect", "transaction"]

SCHEMA_VERSION = 2
"""The schema this code writes (``PRAGMA user_version``); older files are migrated."""

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # from version -> the statements that bring a file to the next version
    0: (
        """CREATE TABLE records (
            namespace TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            scope TEXT NOT NULL,
            updated_at REAL NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (namespace, key)
        )""",
        "CREATE INDEX records_by_seq ON records (seq)",
        "CREATE VIRTUAL TABLE records_fts USING fts5(namespace UNINDEXED, key UNINDEXED, text)",
    ),
    1: (
        # The event log (episodic memory): every bus event, in append order. A row holds
        # the events of one workflow from one group commit (a JSON array of
        # [event, traceparent, tracestate]); events outside any workflow get a row each.
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            workflow_id TEXT NOT NULL,
            time REAL NOT NULL,
            count INTEGER NOT NULL,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX events_by_workflow ON events (workflow_id, seq)",
        """CREATE TABLE workflows (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            started_at REAL NOT NULL,
            finished_at REAL
        )""",
        "CREATE INDEX workflows_by_finish ON workflows (finished_at)",
        # Results of side effects, by idempotency key.
        """CREATE TABLE effects (
            key TEXT PRIMARY KEY,
            workflow_id TEXT NOT NULL,
            state TEXT NOT NULL,
            result TEXT,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX effects_by_workflow ON effects (workflow_id)",
    ),
}


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (creating or migrating) the memory file at ``path``.

    The connection is in autocommit mode (``isolation_level=None``: transactions are
    explicit), may be used from any thread (callers serialize use with a lock), waits up
    to 30 s for another connection's write lock, and the file is in WAL mode with
    ``synchronous=NORMAL``: a committed transaction survives the process being killed;
    on power loss the last transactions may be lost (SQLite's documented WAL trade-off).
    New files use ``auto_vacuum=INCREMENTAL``, so compaction can return freed pages.

    Raises:
        StoreFileError: The file cannot be opened, is not a SQLite database, holds
            another program's tables, or has a newer schema than this code.
    """
    name = str(path)
    try:
        db = sqlite3.connect(name, check_same_thread=False, isolation_level=None, timeout=30.0)
    except sqlite3.Error as exc:
        msg = f"Cannot open memory store {name!r}: {exc}."
        raise StoreFileError(msg, path=name) from exc
    try:
        if not db.execute("SELECT name FROM sqlite_master").fetchall():
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # only takes before the first table
        _wal(db)
        db.execute("PRAGMA synchronous=NORMAL")
        _migrate(db, name)
    except sqlite3.DatabaseError as exc:
        db.close()
        msg = f"Memory store {name!r} is not a usable SQLite database: {exc}."
        raise StoreFileError(msg, path=name) from exc
    except StoreFileError:
        db.close()
        raise
    return db


def _wal(db: sqlite3.Connection, timeout: float = 30.0) -> None:
    """Put the file in WAL mode, waiting up to ``timeout`` s for other connections.

    Switching a new file to WAL takes an exclusive lock, and SQLite answers "database is
    locked" at once, without its busy handler, while another process holds a lock (two
    processes opening a new shared file together, say): so wait and retry here.
    """
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
        else:
            return


def _migrate(db: sqlite3.Connection, name: str) -> None:
    if int(db.execute("PRAGMA user_version").fetchone()[0]) == SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")  # one connection migrates; the others then see it done
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            msg = (
                f"Memory store {name!r} has schema version {version}, newer than this "
                f"code's {SCHEMA_VERSION}; upgrade actorchestra or use another file."
            )
            raise StoreFileError(msg, path=name)
        if version == 0:
            tables = db.execute("SELECT name FROM sqlite_master").fetchall()
            if tables:
                msg = (
                    f"Memory store {name!r} holds tables of another program "
                    f"({', '.join(sorted(t[0] for t in tables))}); give the store its own file."
                )
                raise StoreFileError(msg, path=name)
        while version < SCHEMA_VERSION:
            for statement in _MIGRATIONS[version]:
                db.execute(statement)
            version += 1
        db.execute(f"PRAGMA user_version = {version}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


@contextlib.contextmanager
def transaction(db: sqlite3.Connection, name: str) -> Iterator[sqlite3.Connection]:
    """One write transaction on ``db``; rolled back if the body raises.

    The caller holds the lock that serializes use of ``db``.

    Raises:
        MemoryStoreError: ``db`` was closed.
    """
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.ProgrammingError as exc:
        msg = f"Memory store {name!r} is closed; open it again."
        raise MemoryStoreError(msg) from exc
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
