"""A workflow's state inside the orchestrator, and the messages the orchestrator takes."""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pykka
from opentelemetry import context as otel_context
from opentelemetry import trace
from pydantic import JsonValue

from actors._timers import TimerHandle
from bus import FailureKind, TaskFinished, TokenUsage

from .plan import Plan, Task
from .prices import Prices
from .result import TaskResult, TaskStatus, WorkflowResult, outcome

if TYPE_CHECKING:
    from .replication import Replicas

__all__ = [
    "ApprovalTimedOut",
    "AttemptTimedOut",
    "Cancel",
    "CancelAll",
    "Decide",
    "Resume",
    "RetryDue",
    "Submit",
    "TaskRun",
    "Workflow",
    "task_result",
    "workflow_result",
]


NO_USAGE = TokenUsage()


@dataclass(slots=True)
class TaskRun:
    task: Task
    order: int
    agent: str
    waiting: int
    status: TaskStatus = TaskStatus.PENDING
    attempts: int = 0
    handoff_depth: int = 0
    context: dict[str, JsonValue] | None = None  # what a handoff passed on, if any
    started_at: datetime | None = None
    started_mono: float = 0.0
    finished_at: datetime | None = None
    finished_mono: float = 0.0
    usage: TokenUsage = NO_USAGE  # frozen, so one shared zero serves every task
    spent: dict[str, TokenUsage] = field(default_factory=dict)  # usage by model
    result: JsonValue = None
    error: str = ""
    error_kind: FailureKind | None = None
    late_replies: int = 0
    late_bids: int = 0  # contract-net bids ignored (late, repeated, not asked)
    call: object = None  # the open contract-net call while bidding (contract_net.py)
    timer: TimerHandle | None = None
    retry_pending: bool = False  # failed; the next attempt waits for its backoff
    dispatches: int = 0  # TaskStarted events published (attempts and handoffs)
    target: str = ""  # the agent or capability attempts go to (a handoff changes it)
    on_agent: str | None = None  # the agent running the current dispatch (for routing)
    approval: str = ""  # "", "requested" or "approved"
    attempt_token: str = ""  # the current dispatch's token (see identity.py)
    tokens: dict[str, int] = field(default_factory=dict)  # every token issued: its attempt
    child: Workflow | None = None  # the child workflow the task waits for (delegated)
    child_id: str = ""  # the latest child workflow's id, whose result the task reports
    child_result: WorkflowResult | None = None  # how that child ended
    replicas: Replicas | None = None  # the replicas of a replicated attempt in flight
    replica: int = 0  # the replica number of the dispatch being started (0: none)

    @property
    def needed(self) -> int:
        """Agents an attempt needs free at once: 1, or its vote's quorum (``Redundancy``)."""
        spec = self.task.redundancy
        return 1 if spec is None else spec.needed

    def set_error(self, kind: FailureKind, error: str) -> None:
        """Record why the current attempt (or the task) failed: its kind and message."""
        self.error, self.error_kind = error, kind

    def restore(self, record: TaskFinished) -> None:
        """Take the outcome the event log recorded for this task (a resumed workflow)."""
        self.status = TaskStatus(record.status)
        self.attempts = record.attempts
        self.agent = record.agent or self.agent
        self.error = record.error
        self.error_kind = record.error_kind
        self.result = record.result
        self.usage = record.usage
        self.spent = dict(record.usage_by_model)
        if not self.spent and record.usage.total_tokens:  # recorded before models were
            self.spent = {"": record.usage}
        self.finished_at = record.time
        self.started_at = record.time - timedelta(seconds=record.duration)
        self.started_mono, self.finished_mono = 0.0, record.duration


@dataclass(slots=True)
class Workflow:
    id: str
    plan: Plan
    future: pykka.Future[WorkflowResult]
    span: trace.Span
    owns_span: bool
    tasks: dict[str, TaskRun]
    dependents: dict[str, list[str]]
    submitted_mono: float
    open_tasks: int
    ready: list[tuple[int, int, str]] = field(default_factory=list)
    steps: int = 0
    cancelled: bool = False
    cancel_reason: str = ""
    prices: Prices = field(default_factory=Prices)
    planning: dict[str, TokenUsage] = field(default_factory=dict)  # the planner's, by model
    spent: dict[str, TokenUsage] = field(default_factory=dict)  # tasks' and planning's
    over_budget: str = ""  # why the budget stopped it, if it did
    failures: int = 0  # tasks failed (against the plan's error budget)
    failed_reason: str = ""  # why it failed as a whole (its error budget ran out), if so
    # A child workflow's parent: the workflow and the task that delegated to it.
    parent: Workflow | None = None
    parent_run: TaskRun | None = None
    depth: int = 0  # 0 for a workflow submitted directly, parent's + 1 for a child

    def inputs(self, run: TaskRun) -> dict[str, JsonValue]:
        """The results of ``run``'s dependencies that completed, by task id."""
        tasks = self.tasks
        return {
            dep: tasks[dep].result
            for dep in run.task.depends_on
            if tasks[dep].status is TaskStatus.COMPLETED
        }

    def missing(self, run: TaskRun) -> dict[str, str]:
        """``run``'s optional dependencies that did not complete: id → status and cause."""
        missing = {}
        for dep in run.task.optional:
            ended = self.tasks[dep]
            if ended.status is not TaskStatus.COMPLETED:
                missing[dep] = outcome(ended.status, ended.error)
        return missing

    def spend(self, run: TaskRun | None, usage: TokenUsage, model: str) -> None:
        """Count ``usage`` (spent on ``model``) to ``run`` (``None``: the planning).

        A child workflow's spend is its parent task's too, up to the root.
        """
        if not usage.total_tokens:
            return
        for spent in (self.spent, self.planning if run is None else run.spent):
            spent[model] = spent.get(model, NO_USAGE) + usage
        if run is not None:
            run.usage = run.usage + usage
        if self.parent is not None:
            self.parent.spend(self.parent_run, usage, model)

    @property
    def root(self) -> Workflow:
        """The workflow submitted directly that this one is (a descendant of)."""
        wf = self
        while wf.parent is not None:
            wf = wf.parent
        return wf

    def step(self) -> int:
        """Count one dispatch here and at the root; the root's steps so far."""
        root = self.root
        root.steps += 1
        if root is not self:
            self.steps += 1
        return root.steps

    def attach(self, parent: Workflow, run: TaskRun) -> None:
        """Make this a child workflow of ``run``'s task; what it spent so far is the task's."""
        self.parent, self.parent_run, self.depth = parent, run, parent.depth + 1
        run.child, run.child_id, run.child_result = self, self.id, None
        for model, usage in self.spent.items():
            parent.spend(run, usage, model)


@dataclass(frozen=True, slots=True)
class CancelAll:
    """Cancel every running workflow (a team shutting down); answered when done."""

    reason: str


@dataclass(frozen=True, slots=True)
class Submit:
    plan: Plan
    workflow_id: str
    name: str
    future: pykka.Future[WorkflowResult]
    parent: otel_context.Context
    span: trace.Span | None  # an enclosing workflow_span's, which the caller ends
    causation_id: str = ""  # the event that started the workflow (a trigger's), if any
    # what the planner spent on the plan, by model
    planning: dict[str, TokenUsage] = field(default_factory=dict)
    carried: tuple[TaskResult, ...] = ()  # completed tasks of the workflow it re-plans
    replans: str = ""  # the workflow it re-plans, if any


@dataclass(frozen=True, slots=True)
class Resume:
    workflow_id: str
    future: pykka.Future[WorkflowResult]
    parent: otel_context.Context


@dataclass(frozen=True, slots=True)
class AttemptTimedOut:
    workflow_id: str
    task_id: str
    attempt: int
    timeout: float
    dispatch: int


@dataclass(frozen=True, slots=True)
class ApprovalTimedOut:
    workflow_id: str
    task_id: str
    timeout: float


@dataclass(frozen=True, slots=True)
class RetryDue:
    workflow_id: str
    task_id: str
    attempt: int


@dataclass(frozen=True, slots=True)
class Cancel:
    workflow_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Decide:
    """A decision on a task waiting for approval, from the approver API (never the bus)."""

    workflow_id: str
    task_id: str
    approved: bool
    by: str
    reason: str


def task_result(run: TaskRun, prices: Prices) -> TaskResult:
    finished = run.finished_at or datetime.now(UTC)
    # A completed task has no cause, though an earlier attempt of it failed (as its
    # TaskFinished event, and a resumed workflow's result, say).
    failed = run.status is not TaskStatus.COMPLETED
    # Every value is already of its field's type: constructing skips re-validating them.
    return TaskResult.model_construct(
        task_id=run.task.id,
        agent=run.agent,
        status=run.status,
        attempts=run.attempts,
        started_at=run.started_at,
        finished_at=finished,
        duration=(run.finished_mono - run.started_mono) if run.started_at else 0.0,
        usage=run.usage,
        usage_by_model=dict(run.spent),
        cost=prices.cost(run.spent),
        result=run.result,
        error=run.error if failed else "",
        error_kind=run.error_kind if failed else None,
        late_replies=run.late_replies,
        late_bids=run.late_bids,
        workflow=run.child_result,
    )


def workflow_result(wf: Workflow) -> WorkflowResult:
    """The result of a workflow whose tasks all ended."""
    results = tuple(task_result(run, wf.prices) for run in wf.tasks.values())
    statuses = collections.Counter(r.status for r in results)
    unfinished = len(results) - statuses[TaskStatus.COMPLETED] - statuses[TaskStatus.SKIPPED]
    budget = wf.plan.error_budget or 0
    ok = unfinished == statuses[TaskStatus.FAILED] <= budget and not wf.failed_reason
    sinks = [tid for tid, deps in wf.dependents.items() if not deps]
    answer: JsonValue = (
        wf.tasks[sinks[0]].result
        if len(sinks) == 1
        else {tid: wf.tasks[tid].result for tid in sinks}
    )
    if ok:
        status = TaskStatus.COMPLETED
    elif wf.cancelled and not wf.failed_reason:
        status = TaskStatus.CANCELLED
    else:
        status = TaskStatus.FAILED
    return WorkflowResult(
        workflow_id=wf.id,
        status=status,
        tasks=results,
        answer=answer,
        duration=time.monotonic() - wf.submitted_mono,
        planning=dict(wf.planning),
        planning_cost=wf.prices.cost(wf.planning),
        cost=wf.prices.cost(wf.spent),
    )
