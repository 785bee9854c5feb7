"""A workflow's progress as one row per task, built from its events (live or logged)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bus import (
    ApprovalDecided,
    ApprovalRequested,
    Event,
    Handoff,
    TaskCompleted,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    WorkflowFinished,
    WorkflowResumed,
    WorkflowStarted,
)

__all__ = ["Progress", "Row"]

TERMINAL = frozenset({"completed", "failed", "cancelled", "skipped"})


ENDED = frozenset({"completed", "failed", "cancelled", "skipped"})
"""The statuses a task ends with (its ``TaskFinished``'s)."""


@dataclass(slots=True)
class Row:
    """One task as far as its events tell.

    Attributes:
        task_id: The task.
        agent: The agent of its latest attempt (the plan's until one starts).
        status: ``pending``, ``awaiting approval``, ``running``, ``retrying``, or a
            terminal status (``completed``, ``failed``, ``cancelled``, ``skipped``).
        attempt: Number of its latest attempt (0 before the first).
        started: Time of its first start (UTC), ``None`` before it.
        duration: Seconds from the first start to the end, once ended.
        tokens: Input plus output tokens spent so far.
        note: The last error, or the approval's decision, in words.
        running: Dispatches of its latest attempt still out (replicas: several).
    """

    task_id: str
    agent: str
    status: str = "pending"
    attempt: int = 0
    started: datetime | None = None
    duration: float | None = None
    tokens: int = 0
    note: str = ""
    running: int = 0

    def seconds(self, now: datetime) -> float | None:
        """Its duration: final once ended, else up to ``now``; ``None`` before it starts."""
        if self.duration is not None:
            return self.duration
        if self.started is None:
            return None
        return max(0.0, (now - self.started).total_seconds())


class Progress:
    """Rows of one workflow's tasks, in plan order, updated by :meth:`apply`.

    Args:
        tasks: ``(task id, agent)`` pairs in plan order; rows for tasks not listed are
            added when their first event comes (a resumed workflow learns its plan from
            its ``WorkflowStarted``).
    """

    def __init__(self, tasks: list[tuple[str, str]] | None = None) -> None:
        self.rows: dict[str, Row] = {t: Row(t, agent) for t, agent in tasks or []}
        self.started: datetime | None = None
        self.status = "running"
        self.name = ""

    def row(self, task_id: str, agent: str = "") -> Row:
        """The row of ``task_id``, added if it is new."""
        if task_id not in self.rows:
            self.rows[task_id] = Row(task_id, agent)
        return self.rows[task_id]

    def apply(self, event: Event) -> Row | None:
        """Update the rows with ``event``; returns the row it changed, if one did."""
        if self.started is None:
            self.started = event.time
        if isinstance(event, WorkflowStarted):
            self.name = event.name
            tasks = event.plan.get("tasks")
            for task in tasks if isinstance(tasks, list) else []:
                if isinstance(task, dict):
                    self.row(str(task.get("id")), str(task.get("agent", "")))
            for task_id in event.carried:
                self.row(task_id).status = "completed"
            return None
        if isinstance(event, WorkflowFinished):
            self.status = event.status
            return None
        if isinstance(event, WorkflowResumed) or not event.task_id:
            return None
        return self._task_event(event)

    def _task_event(self, event: Event) -> Row | None:
        row = self.row(event.task_id)
        if isinstance(event, TaskStarted):
            row.status, row.attempt, row.agent = "running", event.attempt, event.agent
            row.running = row.running + 1 if event.replica > 1 else 1
            row.started = row.started or event.time
            row.duration = None
        elif isinstance(event, TaskCompleted | Handoff):
            row.tokens += event.usage.total_tokens
            row.running = max(0, row.running - 1)
            if isinstance(event, Handoff):
                row.note = f"handed off to {event.to_agent}"
            return None  # its TaskFinished (or the next attempt) tells the state
        elif isinstance(event, TaskFailed):
            row.tokens += event.usage.total_tokens
            row.running = max(0, row.running - 1)
            if row.status not in ENDED:  # not a late reply (a race's loser, say)
                row.status = "retrying" if row.running == 0 else row.status
                error = event.error_type
                row.note = f"{error}: {event.message}" if event.message else error
        elif isinstance(event, ApprovalRequested):
            row.status = "awaiting approval"
        elif isinstance(event, ApprovalDecided):
            decided = "approved" if event.approved else "rejected"
            row.status = "pending" if event.approved else row.status
            row.note = f"{decided} by {event.by}" if event.by else decided
        elif isinstance(event, TaskFinished):
            row.status, row.attempt = event.status, event.attempts
            row.agent = event.agent or row.agent
            row.duration = event.duration
            row.tokens = max(row.tokens, event.usage.total_tokens)
            row.note = event.error or row.note
        else:
            return None
        return row

    def offset(self, when: datetime) -> float:
        """Seconds from the workflow's first event to ``when``."""
        return 0.0 if self.started is None else (when - self.started).total_seconds()

    def line(self, row: Row, now: datetime) -> str:
        """``row`` as one plain line: offset, task, status, attempt, agent, time, tokens, note."""
        seconds = row.seconds(now)
        parts = [
            f"{self.offset(now):8.3f}s",
            f"{row.task_id:<14}",
            f"{row.status:<17}",
            f"attempt {row.attempt}",
            f"{row.agent or '-':<10}",
            "-" if seconds is None else f"{seconds:.2f}s",
            f"{row.tokens} tokens",
        ]
        if row.note:
            parts.append(row.note)
        return "  ".join(parts)
