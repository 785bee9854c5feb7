"""The event log in a list: for tests, and for services that need no durability."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bus import Event
from bus.lowlevel import Envelope, to_wire

from ._errors import MemoryStoreError
from ._event_log import Retention, WorkflowInfo, note_workflow

__all__ = ["InMemoryEventLog"]


class InMemoryEventLog:
    """An :class:`EventLog` in memory; appends are synchronous, nothing survives the process.

    Args:
        clock: Seconds since the epoch (for tests of retention by age).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._workflows: dict[str, WorkflowInfo] = {}
        self._clock = clock
        self._closed = False

    def append(self, envelope: Envelope[Event]) -> None:
        """See :meth:`EventLog.append`."""
        event = to_wire(envelope)
        with self._lock:
            if self._closed:
                msg = "InMemoryEventLog is closed."
                raise MemoryStoreError(msg)
            self._events.append(event)
            note_workflow(self._workflows, event)

    def events(self, workflow_id: str, task_id: str | None = None) -> list[Event]:
        """See :meth:`EventLog.events`."""
        with self._lock:
            return [
                e
                for e in self._events
                if e.workflow_id == workflow_id and task_id in (None, e.task_id)
            ]

    def workflows(self) -> list[WorkflowInfo]:
        """See :meth:`EventLog.workflows`."""
        with self._lock:
            return sorted(self._workflows.values(), key=lambda w: w.started_at)

    def __len__(self) -> int:
        """Events in the log."""
        with self._lock:
            return len(self._events)

    def flush(self, timeout: float = 30.0) -> None:
        """See :meth:`EventLog.flush` (appends are already done)."""

    def retain(self, policy: Retention) -> int:
        """See :meth:`EventLog.retain`."""
        now = self._clock()
        with self._lock:
            done = sorted(
                (w for w in self._workflows.values() if w.finished_at is not None),
                key=lambda w: w.finished_at or 0.0,
                reverse=True,
            )
            doomed = {
                w.id
                for i, w in enumerate(done)
                if (policy.max_workflows is not None and i >= policy.max_workflows)
                or (policy.max_age is not None and (w.finished_at or 0.0) < now - policy.max_age)
            }
            if policy.max_age is not None:  # workflows never started here, idle too long
                idle: dict[str, float] = {}
                for e in self._events:
                    if e.workflow_id and e.workflow_id not in self._workflows:
                        idle[e.workflow_id] = max(idle.get(e.workflow_id, 0.0), e.time.timestamp())
                doomed.update(w for w, at in idle.items() if at < now - policy.max_age)
            for workflow_id in doomed:
                self._workflows.pop(workflow_id, None)
            dropped = {i for i, e in enumerate(self._events) if e.workflow_id in doomed}
            loose = [i for i, e in enumerate(self._events) if not e.workflow_id]
            if policy.max_age is not None:
                old = now - policy.max_age
                dropped.update(i for i in loose if self._events[i].time.timestamp() < old)
                loose = [i for i in loose if i not in dropped]
            excess = len(loose) - policy.max_loose_events
            if excess > 0:
                dropped.update(loose[:excess])
            self._events = [e for i, e in enumerate(self._events) if i not in dropped]
            return len(dropped)

    def close(self) -> None:
        """See :meth:`EventLog.close`."""
        with self._lock:
            self._closed = True
