"""What a finished workflow reports."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from bus import FailureKind, TokenUsage

__all__ = ["TaskResult", "TaskStatus", "WorkflowResult"]


class TaskStatus(enum.Enum):
    """Where a task is; the last four are terminal, and every task ends in one.

    ``skipped``: it never ran, by design: its condition was false
    (:class:`actors.Condition`), or a dependency it requires was skipped. Unlike
    ``cancelled``, a skipped task does not make its workflow fail.
    """

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


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
        usage_by_model: The same tokens by model (``""``: not known).
        cost: US dollars they cost at the team's :class:`Prices`; ``None`` when some
            were spent on a model with no price (never a guess).
        result: The result, for a completed task.
        error: The cause, for a failed or cancelled task; why, for a skipped one.
        error_kind: The kind of ``error`` (see :class:`bus.FailureKind`); ``None`` when
            ``error`` is empty, and for a skipped task.
        late_replies: Outcomes that arrived for an attempt already given up (timed out,
            superseded, cancelled); ignored, and counted here.
        late_bids: Contract-net bids that came after their call closed (awarded, or an
            earlier attempt's), twice, or from an agent not asked; ignored, counted here.
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
    usage_by_model: dict[str, TokenUsage] = Field(default_factory=dict)
    cost: float | None = None
    result: JsonValue = None
    error: str = ""
    error_kind: FailureKind | None = None
    late_replies: int = 0
    late_bids: int = 0


class WorkflowResult(BaseModel):
    """A finished workflow.

    Attributes:
        workflow_id: The workflow.
        status: ``COMPLETED`` if every task completed or was skipped, but for at most
            the plan's ``error_budget`` failed ones whose failure cancelled nothing;
            ``CANCELLED`` if the workflow was cancelled; else ``FAILED``.
        tasks: Per task, in plan order.
        answer: The final answer: the result of the plan's only sink task, or a dict of
            the sink tasks' results by id when there are several.
        duration: Seconds from submission to the end.
        planning: Tokens the planner spent on this workflow's plan, by model, as given
            to ``Team.run(..., planning=planner.spent)``.
        planning_cost: US dollars the planning cost (``None``: not known).
        cost: US dollars the tasks and the planning cost at the team's :class:`Prices`;
            ``None`` when some tokens were spent on a model with no price.
        replanned_from: The failed workflow this one re-planned (see
            :class:`actors.Replan`), itself chaining to earlier rounds; ``None`` for
            none. Tasks carried over from it count their tokens there, not here.
    """

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    status: TaskStatus
    tasks: tuple[TaskResult, ...]
    answer: JsonValue
    duration: float
    planning: dict[str, TokenUsage] = Field(default_factory=dict)
    planning_cost: float | None = None
    cost: float | None = None
    replanned_from: WorkflowResult | None = None

    @property
    def ok(self) -> bool:
        """True if the workflow completed (see :attr:`status`)."""
        return self.status is TaskStatus.COMPLETED

    @property
    def missing(self) -> dict[str, str]:
        """Tasks that did not complete, by id: their status and cause (skipped ones too).

        Example:
            >>> from datetime import UTC, datetime
            >>> failed = TaskResult(
            ...     task_id="news", agent="a", status=TaskStatus.FAILED, attempts=3,
            ...     started_at=None, finished_at=datetime.now(UTC), duration=0.0,
            ...     usage=TokenUsage(), error="TaskError: feed down", error_kind="error",
            ... )
            >>> WorkflowResult(
            ...     workflow_id="w", status=TaskStatus.FAILED, tasks=(failed,), answer=None,
            ...     duration=0.1,
            ... ).missing
            {'news': 'failed: TaskError: feed down'}
        """
        return {
            t.task_id: outcome(t.status, t.error)
            for t in self.tasks
            if t.status is not TaskStatus.COMPLETED
        }

    @property
    def usage(self) -> TokenUsage:
        """Tokens spent by all tasks and the planning."""
        total = TokenUsage()
        for usage in self.planning.values():
            total = total + usage
        for t in self.tasks:
            total = total + t.usage
        return total

    @property
    def usage_by_model(self) -> dict[str, TokenUsage]:
        """Tokens spent by all tasks and the planning, by model (``""``: not known)."""
        total: dict[str, TokenUsage] = {}
        for spent in (self.planning, *(t.usage_by_model for t in self.tasks)):
            for model, usage in spent.items():
                total[model] = total.get(model, TokenUsage()) + usage
        return total

    def table(self) -> str:
        """A plain-text table: task, agent, status, attempts, duration (s), tokens, cost ($).

        A cost not known (a model with no price) shows as ``?``; the planning, when
        given, is a row of its own, and a last row sums tokens and cost.
        """
        head = ("task", "agent", "status", "attempts", "duration_s", "tokens", "cost_usd")
        rows = [head] + [
            (
                t.task_id,
                t.agent,
                t.status.value,
                str(t.attempts),
                f"{t.duration:.3f}",
                str(t.usage.total_tokens),
                _dollars(t.cost),
            )
            for t in self.tasks
        ]
        if self.planning:
            tokens = sum(u.total_tokens for u in self.planning.values())
            rows.insert(
                1, ("(plan)", "planner", "", "", "", str(tokens), _dollars(self.planning_cost))
            )
        rows.append(("total", "", "", "", "", str(self.usage.total_tokens), _dollars(self.cost)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        return "\n".join(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows
        )


def outcome(status: TaskStatus, error: str) -> str:
    """A task's status and cause in words: ``"failed: TaskError: ..."``."""
    if error.startswith(f"{status.value}:"):
        return error  # e.g. "cancelled: dependency 'a' did not complete"
    return f"{status.value}: {error}" if error else status.value


def _dollars(cost: float | None) -> str:
    return "?" if cost is None else f"{cost:.6f}"
