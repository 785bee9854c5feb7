"""``actorchestra log DB [WORKFLOW]``: the event log as a list of workflows, or a timeline."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime

from bus import (
    ApprovalDecided,
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
from memory import WorkflowInfo

from ._errors import CommandError
from ._session import open_log

__all__ = ["describe", "log_command", "timeline", "workflow_table"]


def log_command(args: argparse.Namespace) -> int:
    """Print the workflows of the log ``args.db``, or the timeline of ``args.workflow``."""
    log = open_log(args.db, must_exist=True)
    try:
        if args.workflow is None:
            print(workflow_table(log.workflows()))
            return 0
        events = log.events(args.workflow)
    finally:
        log.close()
    if not events:
        msg = f"{args.db}: no workflow {args.workflow!r} (`actorchestra log {args.db}` lists them)"
        raise CommandError(msg)
    print(timeline(events))
    return 0


def workflow_table(workflows: list[WorkflowInfo]) -> str:
    """One line per workflow, in start order: id, name, status, start (UTC), seconds."""
    if not workflows:
        return "no workflows"
    rows = [("workflow", "name", "status", "started (UTC)", "duration")]
    for w in workflows:
        started = datetime.fromtimestamp(w.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        took = "" if w.finished_at is None else f"{w.finished_at - w.started_at:.2f}s"
        rows.append((w.id, w.name, w.status, started, took))
    return _columns(rows)


def timeline(events: list[Event]) -> str:
    """One line per event: seconds since the first, type, task, attempt, agent, details.

    Example:
        >>> from bus import TaskStarted
        >>> print(timeline([TaskStarted(workflow_id="w", task_id="a", agent="echo")]))
        offset   event         task  attempt  agent  details
        +0.000s  task.started  a     1        echo
        >>> describe(TaskStarted(workflow_id="w", task_id="a", agent="echo", replica=2))
        'replica 2'
    """
    first = events[0].time
    rows = [("offset", "event", "task", "attempt", "agent", "details")]
    for event in events:
        offset = f"+{(event.time - first).total_seconds():.3f}s"
        attempt = str(event.attempt) if event.task_id else ""
        rows.append((offset, event.type, event.task_id, attempt, _agent(event), describe(event)))
    return _columns(rows)


def describe(event: Event) -> str:
    """What ``event`` says beyond its type, task and agent: a status, an error, tokens."""
    if isinstance(event, WorkflowStarted):
        tasks = event.plan.get("tasks")
        return f"{event.name}: {len(tasks) if isinstance(tasks, list) else '?'} tasks"
    if isinstance(event, WorkflowResumed):
        return f"reused {event.reused or '[]'}, restarted {event.restarted or '[]'}"
    if isinstance(event, WorkflowFinished):
        return f"{event.status} in {event.duration:.3f}s"
    if isinstance(event, TaskFinished):
        took = f"{event.status} after {event.attempts} attempts, {event.duration:.3f}s"
        return f"{took}: {event.error}" if event.error else took
    if isinstance(event, TaskFailed):
        return f"{event.error_type}: {event.message}" + ("" if event.retryable else " (final)")
    if isinstance(event, TaskCompleted):
        return f"{event.usage.total_tokens} tokens"
    if isinstance(event, Handoff):
        return f"to {event.to_agent}: {event.reason}"
    if isinstance(event, TaskStarted) and event.replica:
        return f"replica {event.replica}"
    if isinstance(event, ApprovalDecided):
        decided = "approved" if event.approved else "rejected"
        return f"{decided} by {event.by or '?'}" + (f": {event.reason}" if event.reason else "")
    return ""


def _agent(event: Event) -> str:
    if isinstance(event, Handoff):
        return event.from_agent
    if isinstance(event, TaskStarted | TaskCompleted | TaskFailed | TaskFinished):
        return event.agent
    return str(getattr(event, "agent", ""))


def _columns(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)), r[-1]]).rstrip()
        for r in rows
    )
