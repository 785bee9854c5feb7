"""How the SQLite event log stores events: a group commit's rows, and stored rows read back."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from bus import EVENT_SCHEMA_VERSION, Event, WorkflowFinished, WorkflowStarted
from bus.lowlevel import Envelope, traceparent

from ._stored_events import SkipRecord, read_fields

__all__ = ["EventRows", "read_row"]


@dataclass(frozen=True, slots=True)
class EventRows:
    """What one group commit writes: the ``events``, ``workflows`` started and finished.

    An ``events`` row holds the events of one workflow from one group, in order (one row
    per event outside any workflow), as a JSON array of
    ``[event, traceparent, tracestate, schema version]`` entries.
    """

    events: list[tuple[str, float, int, str]]
    started: list[tuple[str, str, str, float]]
    finished: list[tuple[str, float, str]]

    @classmethod
    def of(cls, batch: list[Envelope[Event]]) -> EventRows:
        """The rows that store ``batch``, in publish order."""
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
        return cls(rows, started, finished)

    def insert(self, db: sqlite3.Connection) -> None:
        """Write the rows, in the transaction open on ``db``."""
        db.executemany(
            "INSERT INTO events (workflow_id, time, count, data) VALUES (?, ?, ?, ?)",
            self.events,
        )
        db.executemany("INSERT OR IGNORE INTO workflows VALUES (?, ?, ?, ?, NULL)", self.started)
        db.executemany(
            "UPDATE workflows SET status = ?, finished_at = ? WHERE id = ?", self.finished
        )


def read_row(data: object, task_id: str | None, path: str, skip: SkipRecord) -> list[Event]:
    """The events of one stored ``events`` row (only ``task_id``'s, unless ``None``).

    Args:
        data: The row's ``data``.
        task_id: The task whose events to keep, or ``None`` for all.
        path: The database file, for messages.
        skip: Told of each record this release cannot read, which is left out.

    Raises:
        MemoryStoreError: A record is of a known event type and still cannot be read
            (skipping it could make a resume repeat finished work).
    """
    try:
        entries = json.loads(str(data))
    except ValueError as exc:
        skip("", -1, exc)  # a damaged row
        return []
    events = []
    for entry in entries:
        event = _read_entry(entry, task_id, path, skip)
        if event is not None:
            events.append(event)
    return events


def _read_entry(
    entry: Any,  # noqa: ANN401 - JSON
    task_id: str | None,
    path: str,
    skip: SkipRecord,
) -> Event | None:
    """One stored ``[event, traceparent, tracestate(, version)]``; ``None`` to skip.

    Raises:
        MemoryStoreError: It is of a known event type and still cannot be read
            (skipping it could make a resume repeat finished work).
    """
    try:
        # [event, traceparent, tracestate] (version 0) or [..., version]
        fields, parent, state = entry[0], entry[1], entry[2]
        version = int(entry[3]) if len(entry) > 3 else 0
        if not isinstance(fields, dict):
            raise TypeError(f"a stored event is a JSON object, not {type(fields).__name__}")
    except (TypeError, KeyError, IndexError, ValueError, AttributeError) as exc:
        skip("", -1, exc)  # a damaged entry
        return None
    if task_id is not None and fields.get("task_id") != task_id:
        return None
    if parent:
        fields["traceparent"], fields["tracestate"] = parent, state
    return read_fields(fields, version, path, skip)
