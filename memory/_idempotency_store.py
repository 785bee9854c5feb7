"""Results of side effects by idempotency key: a call runs at most once per key."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ._database import connect, transaction
from ._errors import MemoryStoreError

__all__ = [
    "IdempotencyStore",
    "InMemoryIdempotencyStore",
    "SQLiteIdempotencyStore",
    "SideEffectBusyError",
]

logger = logging.getLogger(__name__)


class SideEffectBusyError(MemoryStoreError):
    """The same side effect is still running in another attempt (retry the attempt later)."""


class IdempotencyStore(Protocol):
    """Where results of side-effecting calls are kept, by idempotency key.

    Implementations are thread-safe: attempts of one task may overlap (a timed-out
    attempt can still be running when its retry starts), and run a key's call once.
    """

    def run_once(
        self,
        key: str,
        call: Callable[[], str],
        timeout: float = 60.0,
        *,
        workflow_id: str = "",
        aliases: Sequence[str] = (),
    ) -> str:
        """Return the result stored for ``key``, or run ``call`` once and store it.

        Args:
            key: The idempotency key (see :func:`actors.idempotency_key`).
            call: The side effect; its result (JSON text) is stored.
            timeout: Seconds to wait for another caller running ``key`` right now.
            workflow_id: The workflow the call belongs to, so the result can be removed
                with it (:meth:`SQLiteEventLog.retain`); ``""`` for none.
            aliases: Keys earlier releases stored the same call under: a result found
                under one is returned, and ``call`` does not run (a workflow resumed
                across an upgrade repeats no effect).

        Raises:
            SideEffectBusyError: Another caller is still running ``key`` after
                ``timeout``. Whatever ``call`` raises propagates, and nothing is stored,
                so a later attempt may run it again.
        """
        ...


@dataclass(frozen=True, slots=True)
class _Call:
    """One :meth:`~IdempotencyStore.run_once` call (``deadline``: monotonic seconds)."""

    key: str
    call: Callable[[], str]
    timeout: float
    deadline: float
    workflow_id: str
    aliases: Sequence[str]


class _SingleFlight:
    """One call per key at a time within the process; subclasses keep the results.

    :meth:`run_once` takes the key's gate (waiting for another thread running the same
    key, until the timeout), then runs :meth:`_run` outside any store-wide lock: a
    subclass that looks results up over the network does not hold up other keys.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, threading.Event] = {}

    def run_once(
        self,
        key: str,
        call: Callable[[], str],
        timeout: float = 60.0,
        *,
        workflow_id: str = "",
        aliases: Sequence[str] = (),
    ) -> str:
        """See :meth:`IdempotencyStore.run_once`."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                running = self._running.get(key)
                if running is None:
                    running = self._running[key] = threading.Event()
                    break
            if not running.wait(max(0.0, deadline - time.monotonic())):
                raise SideEffectBusyError(busy_message(key, timeout))
        try:
            return self._run(_Call(key, call, timeout, deadline, workflow_id, aliases))
        finally:
            with self._lock:
                del self._running[key]
            running.set()

    def _run(self, request: _Call) -> str:
        """Run the call once, holding its key's gate."""
        for name in (request.key, *request.aliases):
            stored = self._lookup(name)
            if stored is not None:
                return stored
        try:
            self._begin(request.key, request.workflow_id)
            result = request.call()
        except BaseException:
            self._abandon(request.key)
            raise
        self._store(request.key, result)
        return result

    def _lookup(self, key: str) -> str | None:
        raise NotImplementedError  # pragma: no cover

    def _begin(self, key: str, workflow_id: str) -> None:
        """Record that ``key``'s call is about to run."""

    def _store(self, key: str, result: str) -> None:
        raise NotImplementedError  # pragma: no cover

    def _abandon(self, key: str) -> None:
        """Forget a call that raised."""


def busy_message(key: str, timeout: float) -> str:
    """What :class:`SideEffectBusyError` says when ``key`` is still running elsewhere."""
    return f"Side effect {key!r} is still running in another attempt after {timeout} s."


class InMemoryIdempotencyStore(_SingleFlight):
    """The in-process store: results live as long as the process (or until evicted).

    Args:
        max_entries: Completed results kept at most; the least recently used go first
            (a call retried after its result was evicted would run again). Calls in
            progress are never evicted.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        super().__init__()
        self._done: OrderedDict[str, str] = OrderedDict()
        self.max_entries = max_entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._done)

    def _lookup(self, key: str) -> str | None:
        with self._lock:
            result = self._done.get(key)
            if result is not None:
                self._done.move_to_end(key)
            return result

    def _store(self, key: str, result: str) -> None:
        with self._lock:
            self._done[key] = result
            while len(self._done) > self.max_entries:
                self._done.popitem(last=False)


class SQLiteIdempotencyStore(_SingleFlight):
    """Results of side effects in a SQLite file: at most once per key across restarts.

    Before a call runs, its key is committed as *pending*; after it returns, its result
    is committed as *done*. A later attempt, in this process or in one that resumes the
    workflow after this one died, gets the stored result without running the call.

    Only one window is left, and no store can close it alone: the process killed after
    the effect happened but before its result was committed. The key is then found
    *pending*; the call runs again with the same key (logged at WARNING and counted in
    :attr:`in_doubt`), so an effect that must never repeat should check the key itself
    (e.g. pass it on as the payment provider's idempotency key).

    Rows live until :meth:`SQLiteEventLog.retain` removes their workflow (the
    ``workflow_id`` given to :meth:`run_once`) or :meth:`forget` removes them.

    Args:
        path: The database file, usually the one the event log and the store use.

    Raises:
        StoreFileError: The file is not a usable memory file.
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = str(path)
        self.in_doubt = 0
        self._db = connect(self.path)
        self._db_lock = threading.Lock()

    def __len__(self) -> int:
        with self._db_lock:
            return int(self._db.execute("SELECT COUNT(*) FROM effects").fetchone()[0])

    def _lookup(self, key: str) -> str | None:
        with self._db_lock:
            try:
                row = self._db.execute(
                    "SELECT state, result FROM effects WHERE key = ?", (key,)
                ).fetchone()
            except sqlite3.ProgrammingError as exc:
                msg = f"Idempotency store {self.path!r} is closed."
                raise MemoryStoreError(msg) from exc
        if row is None:
            return None
        state, result = row
        if state == "done":
            return str(result)
        self.in_doubt += 1
        logger.warning(
            "Side effect %s was started before the process died and its outcome is unknown; "
            "running it again under the same key",
            key,
        )
        return None

    def _write(self, sql: str, args: tuple[object, ...]) -> None:
        with self._db_lock, transaction(self._db, self.path) as db:
            db.execute(sql, args)

    def _begin(self, key: str, workflow_id: str) -> None:
        self._write(
            "INSERT OR REPLACE INTO effects VALUES (?, ?, 'pending', NULL, ?)",
            (key, workflow_id, time.time()),
        )

    def _store(self, key: str, result: str) -> None:
        self._write(
            "UPDATE effects SET state = 'done', result = ?, updated_at = ? WHERE key = ?",
            (result, time.time(), key),
        )

    def _abandon(self, key: str) -> None:
        self._write("DELETE FROM effects WHERE key = ?", (key,))

    def forget(self, workflow_id: str) -> int:
        """Remove the results of a workflow's side effects; how many."""
        with self._db_lock, transaction(self._db, self.path) as db:
            return db.execute("DELETE FROM effects WHERE workflow_id = ?", (workflow_id,)).rowcount

    def close(self) -> None:
        """Release the file; later calls raise :class:`MemoryStoreError`."""
        with self._db_lock:
            self._db.close()
