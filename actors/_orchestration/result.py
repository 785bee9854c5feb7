"""What a finished workflow reports."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, ConfigDict, JsonValue

from bus import FailureKind, TokenUsage

__all__ = ["TaskResult", "TaskStatus", "WorkflowResult"]


class TaskStatus(enum.Enum):
    """Where a task is; the last three are terminal, and every task ends in one."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TaskResult(BaseModel):
    """One task's outcome.

    Attributes:
        task_id: The task.
        agent: The agent that ran its last attempt.
        status: Terminal status.
        attempts: Attempts made (handoffs do not count as attempts).
        started_at: First start (UTC), ``None`` if it never started.
        finished_at: When it reached its terminal status (UTC).
        duration: Seconds from first start to the end (0 if it never started).
        usage: Tokens spent over all attempts.
        result: The result, for a completed task.
        error: The cause, for a failed or cancelled task.
        error_kind: The kind of ``error`` (see :class:`bus.FailureKind`); ``None`` when
            ``error`` is empty.
        late_replies: Outcomes that arrived for an attempt already given up (timed out,
            superseded, cancelled); ignored, and counted here.
    """

    model_config = ConfigDict(frozen=True)

    task_id: str
    agent: str
    status: TaskStatus
    attempts: int
    started_at: datetime | None
    finished_at: datetime
    duration: float
    usage: TokenUsage
    result: JsonValue = None
    error: str = ""
    error_kind: FailureKind | None = None
    late_replies: int = 0


class WorkflowResult(BaseModel):
    """A finished workflow.

    Attributes:
        workflow_id: The workflow.
        status: ``COMPLETED`` if every task completed, ``CANCELLED`` if the workflow was
            cancelled, else ``FAILED``.
        tasks: Per task, in plan order.
        answer: The final answer: the result of the plan's only sink task, or a dict of
            the sink tasks' results by id when there are several.
        duration: Seconds from submission to the end.
    """

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    status: TaskStatus
    tasks: tuple[TaskResult, ...]
    answer: JsonValue
    duration: float

    @property
    def ok(self) -> bool:
        """True if every task completed."""
        return self.status is TaskStatus.COMPLETED

    @property
    def usage(self) -> TokenUsage:
        """Tokens spent by all tasks."""
        total = TokenUsage()
        for t in self.tasks:
            total = total + t.usage
        return total

    def table(self) -> str:
        """A plain-text table: task, agent, status, attempts, duration (s), tokens."""
        head = ("task", "agent", "status", "attempts", "duration_s", "tokens")
        rows = [head] + [
            (
                t.task_id,
                t.agent,
                t.status.value,
                str(t.attempts),
                f"{t.duration:.3f}",
                str(t.usage.total_tokens),
            )
            for t in self.tasks
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        return "\n".join(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows
        )
