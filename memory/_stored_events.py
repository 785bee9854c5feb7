"""Reading stored events back, as every event log does: versions, unknown types, damage.

The rule (see :data:`bus.EVENT_SCHEMA_VERSION`): a record of an event type this release
does not know — a user's type whose module is not imported, or a damaged record — is
skipped, counted and logged at WARNING once per type; a record of a known type that
still cannot be read raises :class:`MemoryStoreError` (skipping a ``TaskFinished`` would
make a resume run that task again).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from bus import Event, EventValidationError, event_class
from bus.lowlevel import read_stored_event

from ._errors import MemoryStoreError

__all__ = ["SkipRecord", "SkippedRecords", "SkipsRecords", "read_fields"]

logger = logging.getLogger(__name__)

SkipRecord = Callable[[str, int, Exception], None]
"""Told of a record this release cannot read: its event type and schema version, and why
(``""`` and ``-1`` for a damaged record)."""


class SkippedRecords:
    """A log's count of records skipped (a :data:`SkipRecord`), logged once per type.

    Args:
        where: The log, for messages (e.g. its file, or its stream).
    """

    def __init__(self, where: str) -> None:
        self.where = where
        self.count = 0
        self._types: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, event_type: str, version: int, exc: Exception) -> None:
        with self._lock:
            self.count += 1
            if event_type in self._types:
                return
            self._types.add(event_type)
        logger.warning(
            "Event log %s: skipping records %s that this release cannot read (%s: %s); "
            "import the module defining an event type to read its records",
            self.where,
            f"of type {event_type!r} (schema version {version})" if event_type else "damaged",
            type(exc).__name__,
            exc,
        )


class SkipsRecords:
    """An event log that skips records it cannot read, counting them in :attr:`skipped`."""

    _skip: SkippedRecords

    @property
    def skipped(self) -> int:
        """Records left out by reads, unreadable here (each read counts them again)."""
        return self._skip.count


def read_fields(fields: dict[str, Any], version: int, where: str, skip: SkipRecord) -> Event | None:
    """The event stored as ``fields`` under schema ``version``; ``None`` if skipped.

    Args:
        fields: The stored event as a JSON object (``traceparent`` included, if any).
        version: The schema version it was stored under.
        where: The log, for messages.
        skip: Told of a record of an unknown type, which is left out.

    Raises:
        MemoryStoreError: It is of a known event type and still cannot be read.
    """
    event_type = str(fields.get("type"))
    try:
        return read_stored_event(fields, version)
    except EventValidationError as exc:
        if event_class(event_type) is not None:
            msg = (
                f"Event log {where!r} holds a {event_type} event (schema version "
                f"{version}) that this release cannot read: {exc}"
            )
            raise MemoryStoreError(msg) from None
        skip(event_type, version, exc)
        return None
