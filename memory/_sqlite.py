"""The embedded default store: one SQLite file (stdlib ``sqlite3``, WAL, FTS5 search)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import JsonValue

from ._database import connect, transaction
from ._errors import MemoryStoreError
from ._record import Record, Scope, tokens
from ._store import Match, check_names, check_retention, rank

__all__ = ["SQLiteStore"]

_SELECT = "SELECT namespace, key, value, scope, updated_at FROM records"
_SEARCH = (
    "SELECT r.namespace, r.key, r.value, r.scope, r.updated_at "
    "FROM records_fts f JOIN records r ON r.namespace = f.namespace AND r.key = f.key "
    "WHERE records_fts MATCH ? AND f.namespace = ? ORDER BY r.seq DESC"
)


class SQLiteStore:
    """A :class:`MemoryStore` in one SQLite file, safe to share between actor threads.

    The file is opened by :func:`connect` (WAL, ``synchronous=NORMAL``: a committed write
    survives ``kill -9``; on power loss the last few may be lost). One connection serves
    all threads, behind a lock. The event log and the idempotency store may share the file.

    Args:
        path: The database file (created if missing), or ``":memory:"``.
        clock: Seconds since the epoch (for tests).

    Raises:
        StoreFileError: The file is not a SQLite database, belongs to another program,
            or was written by a newer version of this code.
    """

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._db = connect(self.path)

    def _run(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.ProgrammingError as exc:
                msg = f"Memory store {self.path!r} is closed; open a new SQLiteStore."
                raise MemoryStoreError(msg) from exc

    @staticmethod
    def _record(row: tuple[object, ...]) -> Record:
        namespace, key, value, scope, updated_at = row
        return Record(
            str(namespace), str(key), json.loads(str(value)), Scope(scope), float(str(updated_at))
        )

    def put(
        self, namespace: str, key: str, value: JsonValue, *, scope: Scope = Scope.LONG_TERM
    ) -> Record:
        """See :meth:`MemoryStore.put`."""
        check_names(namespace, key)
        record = Record(namespace, key, value, scope, self._clock())
        data = json.dumps(value, ensure_ascii=False)
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO records VALUES "
                "(?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM records))",
                (namespace, key, data, scope.value, record.updated_at),
            )
            db.execute("DELETE FROM records_fts WHERE namespace = ? AND key = ?", (namespace, key))
            db.execute(
                "INSERT INTO records_fts VALUES (?, ?, ?)",
                (namespace, key, " ".join(tokens(record.text))),
            )
        return record

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, under the lock; rolled back if the body raises."""
        with self._lock, transaction(self._db, self.path) as db:
            yield db

    def get(self, namespace: str, key: str) -> Record | None:
        """See :meth:`MemoryStore.get`."""
        rows = self._run(_SELECT + " WHERE namespace = ? AND key = ?", (namespace, key))
        return self._record(rows[0]) if rows else None

    def delete(self, namespace: str, key: str) -> bool:
        """See :meth:`MemoryStore.delete`."""
        return bool(self._delete_where("namespace = ? AND key = ?", (namespace, key)))

    def _delete_where(self, where: str, args: tuple[object, ...]) -> int:
        with self._transaction() as db:
            # ``where`` is one of this module's literal conditions, never user text.
            doomed = db.execute(
                "SELECT namespace, key FROM records WHERE " + where,  # noqa: S608
                args,
            ).fetchall()
            db.executemany("DELETE FROM records WHERE namespace = ? AND key = ?", doomed)
            db.executemany("DELETE FROM records_fts WHERE namespace = ? AND key = ?", doomed)
        return len(doomed)

    def records(self, namespace: str) -> list[Record]:
        """See :meth:`MemoryStore.records`."""
        rows = self._run(_SELECT + " WHERE namespace = ? ORDER BY seq DESC", (namespace,))
        return [self._record(r) for r in rows]

    def search(
        self, namespace: str, query: str, limit: int = 10, *, match: Match = "all"
    ) -> list[Record]:
        """See :meth:`MemoryStore.search` (SQLite FTS5 over the records' tokens)."""
        wanted = set(tokens(query))
        if not wanted:
            return []
        # Tokens are [0-9a-z]+, so quoting them is safe.
        terms = f" {'AND' if match == 'all' else 'OR'} ".join(f'"{t}"' for t in sorted(wanted))
        if match == "all":
            return [
                self._record(r) for r in self._run(_SEARCH + " LIMIT ?", (terms, namespace, limit))
            ]
        found = [self._record(r) for r in self._run(_SEARCH, (terms, namespace))]
        return rank(found, wanted, match, limit)

    def discard(self, namespace: str) -> int:
        """See :meth:`MemoryStore.discard`."""
        return self._delete_where("namespace = ? AND scope = ?", (namespace, "short_term"))

    def retain(self, *, max_records: int | None = None, max_age: float | None = None) -> int:
        """See :meth:`MemoryStore.retain`."""
        check_retention(max_records, max_age)
        removed = 0
        if max_age is not None:
            oldest = self._clock() - max_age
            removed += self._delete_where("scope = 'long_term' AND updated_at < ?", (oldest,))
        if max_records is not None:
            removed += self._delete_where(
                "scope = 'long_term' AND seq NOT IN (SELECT seq FROM records "
                "WHERE scope = 'long_term' ORDER BY seq DESC LIMIT ?)",
                (max_records,),
            )
        return removed

    def close(self) -> None:
        """See :meth:`MemoryStore.close`."""
        with self._lock:
            self._db.close()
