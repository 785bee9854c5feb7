"""The reference store: a dict behind a lock. For tests, and as the model of the others."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pydantic import JsonValue

from ._errors import MemoryStoreError
from ._record import Record, Scope, tokens
from ._store import Match, check_names, check_retention, rank

__all__ = ["InMemoryStore"]


class InMemoryStore:
    """A :class:`MemoryStore` in a dict; nothing survives the process.

    Args:
        clock: Seconds since the epoch (for tests).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._data: dict[tuple[str, str], Record] = {}
        self._clock = clock
        self._closed = False

    def _open(self) -> None:
        if self._closed:
            msg = "InMemoryStore is closed; create a new store."
            raise MemoryStoreError(msg)

    def put(
        self, namespace: str, key: str, value: JsonValue, *, scope: Scope = Scope.LONG_TERM
    ) -> Record:
        """See :meth:`MemoryStore.put`."""
        check_names(namespace, key)
        record = Record(namespace, key, value, scope, self._clock())
        with self._lock:
            self._open()
            self._data.pop((namespace, key), None)  # re-inserted last: newest
            self._data[namespace, key] = record
        return record

    def get(self, namespace: str, key: str) -> Record | None:
        """See :meth:`MemoryStore.get`."""
        with self._lock:
            self._open()
            return self._data.get((namespace, key))

    def delete(self, namespace: str, key: str) -> bool:
        """See :meth:`MemoryStore.delete`."""
        with self._lock:
            self._open()
            return self._data.pop((namespace, key), None) is not None

    def records(self, namespace: str) -> list[Record]:
        """See :meth:`MemoryStore.records`."""
        with self._lock:
            self._open()
            return [r for r in reversed(self._data.values()) if r.namespace == namespace]

    def search(
        self, namespace: str, query: str, limit: int = 10, *, match: Match = "all"
    ) -> list[Record]:
        """See :meth:`MemoryStore.search`."""
        wanted = set(tokens(query))
        if not wanted:
            return []
        return rank(self.records(namespace), wanted, match, limit)

    def discard(self, namespace: str) -> int:
        """See :meth:`MemoryStore.discard`."""
        with self._lock:
            self._open()
            doomed = [
                k
                for k, r in self._data.items()
                if r.namespace == namespace and r.scope is Scope.SHORT_TERM
            ]
            for k in doomed:
                del self._data[k]
            return len(doomed)

    def retain(self, *, max_records: int | None = None, max_age: float | None = None) -> int:
        """See :meth:`MemoryStore.retain`."""
        check_retention(max_records, max_age)
        with self._lock:
            self._open()
            long_term = [k for k, r in self._data.items() if r.scope is Scope.LONG_TERM]
            doomed: set[tuple[str, str]] = set()
            if max_age is not None:
                oldest = self._clock() - max_age
                doomed.update(k for k in long_term if self._data[k].updated_at < oldest)
            if max_records is not None and len(long_term) > max_records:
                doomed.update(long_term[: len(long_term) - max_records])  # oldest first
            for k in doomed:
                del self._data[k]
            return len(doomed)

    def close(self) -> None:
        """See :meth:`MemoryStore.close`."""
        with self._lock:
            self._closed = True
