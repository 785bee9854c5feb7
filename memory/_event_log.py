"""The event log interface: episodic memory, every bus event of every workflow in order."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, Protocol, runtime_checkable

from bus import Event, WorkflowFinished, WorkflowStarted
from bus.lowlevel import Envelope

from ._errors import ConfigurationError

__all__ = ["EventLog", "Retention", "WorkflowInfo", "note_workflow"]


@dataclass(frozen=True, slots=True)
class WorkflowInfo:
    """One workflow as the event log knows it.

    Attributes:
        id: The workflow id.
        name: Its name (from ``WorkflowStarted``).
        status: ``running`` until its ``WorkflowFinished``, then that event's status.
        started_at: Time of its ``WorkflowStarted``, seconds since the epoch.
        finished_at: Time of its ``WorkflowFinished``, or ``None``.
    """

    id: str
    name: str
    status: Literal["running", "completed", "failed", "cancelled"]
    started_at: float
    finished_at: float | None


def note_workflow(workflows: dict[str, WorkflowInfo], event: Event) -> None:
    """Update ``workflows`` (by id, in start order) with ``event``, read in append order.

    A workflow's first ``WorkflowStarted`` adds it, ``running``; a ``WorkflowFinished``
    of a workflow started before sets its status and end.
    """
    if isinstance(event, WorkflowStarted):
        if event.workflow_id not in workflows:
            at = event.time.timestamp()
            workflows[event.workflow_id] = WorkflowInfo(
                event.workflow_id, event.name, "running", at, None
            )
    elif isinstance(event, WorkflowFinished) and event.workflow_id in workflows:
        info = workflows[event.workflow_id]
        workflows[event.workflow_id] = replace(
            info, status=event.status, finished_at=event.time.timestamp()
        )


@dataclass(frozen=True, slots=True)
class Retention:
    """How much of the event log to keep, so a process running for months stays bounded.

    A workflow that has not finished is always kept whole (it may still be resumed).
    Removing a workflow also removes its side effects' results from a
    :class:`SQLiteIdempotencyStore` in the same file.

    Attributes:
        max_workflows: Keep the events of at most this many finished workflows, the most
            recently finished; ``None`` for no count limit.
        max_age: Seconds: drop workflows finished longer ago, events outside any
            workflow older than this, and events of a workflow id that never started in
            this log whose newest event is older than this; ``None`` for no age limit.
        max_loose_events: Keep at most this many events outside any workflow (e.g.
            supervision events at start-up), the newest.

    Raises:
        ConfigurationError: A bound is negative.
    """

    max_workflows: int | None = None
    max_age: float | None = None
    max_loose_events: int = 100_000

    def __post_init__(self) -> None:
        bounds = (self.max_workflows or 0, self.max_age or 0.0, self.max_loose_events)
        if min(bounds) < 0:
            msg = f"{self} has a negative bound; every bound must be >= 0."
            raise ConfigurationError(msg)


@runtime_checkable
class EventLog(Protocol):
    """An append-only log of bus events; an :class:`bus.lowlevel.EventSink` that can be read back.

    Give it to the bus (``EventBus(event_log=log)``) and every published event is
    appended, in publish order, with its trace context as W3C ``traceparent``. The
    orchestrator reads a workflow's events back to resume it after the process died.
    """

    def append(self, envelope: Envelope[Event]) -> None:
        """Append one event (see :class:`bus.lowlevel.EventSink`).

        Raises:
            MemoryStoreError: The log was closed.
        """
        ...

    def events(self, workflow_id: str, task_id: str | None = None) -> list[Event]:
        """The events of a workflow (of one of its tasks), in append order.

        Everything appended before the call is included (the log is flushed first).
        """
        ...

    def workflows(self) -> list[WorkflowInfo]:
        """Every workflow in the log, in the order they started."""
        ...

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything appended so far is durable.

        Raises:
            MemoryStoreError: Not done within ``timeout`` seconds, or the log is closed.
        """
        ...

    def retain(self, policy: Retention) -> int:
        """Apply ``policy`` now and compact the storage; returns how many events went."""
        ...

    def close(self) -> None:
        """Flush, then release the storage; later appends raise."""
        ...
