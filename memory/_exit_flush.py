"""Event logs still open when the interpreter exits are flushed then (at most 10 s each).

Their writers run in daemon threads (or the transport's loop), which do not keep the
interpreter alive: a program that forgets ``close`` loses nothing it published.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from typing import Protocol

__all__ = ["flush_at_exit", "forget_at_exit"]

logger = logging.getLogger(__name__)

_EXIT_FLUSH_TIMEOUT = 10.0


class _Flushable(Protocol):
    def flush(self, timeout: float) -> None: ...


_OPEN: weakref.WeakKeyDictionary[_Flushable, str] = weakref.WeakKeyDictionary()
_OPEN_LOCK = threading.Lock()


def flush_at_exit(writer: _Flushable, where: str) -> None:
    """Flush ``writer`` (of the log ``where``) at exit unless :func:`forget_at_exit` first."""
    with _OPEN_LOCK:
        _OPEN[writer] = where


def forget_at_exit(writer: _Flushable) -> None:
    """``writer`` was closed: nothing to flush at exit."""
    with _OPEN_LOCK:
        _OPEN.pop(writer, None)


@atexit.register
def _flush_open_logs() -> None:
    with _OPEN_LOCK:
        writers = list(_OPEN.items())
    for writer, where in writers:
        try:
            writer.flush(_EXIT_FLUSH_TIMEOUT)
        except Exception:  # one log's failure must not stop the others' flush
            logger.exception("Event log %s: events not written at exit", where)
