"""A task's state transitions: start an attempt, complete, close, cancel, finish the workflow.

The floor the orchestrator's jobs (dispatch, retries, approvals, handoffs, resume) are
built on; every change of a :class:`TaskRun`'s status goes through here, so each task
ends exactly once.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import random
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pykka
from opentelemetry import context as otel_context
from opentelemetry import trace
from pydantic import JsonValue

from actors._errors import BudgetExceeded
from actors._metrics import Instruments
from actors._timers import TIMERS
from bus import (
    Event,
    FailureKind,
    TaskCompleted,
    TaskFinished,
    TaskStarted,
    TokenUsage,
    WorkflowFinished,
)
from memory import EventLog, MemoryStore, MemoryStoreError, workflow_namespace

from .giving_up import GivingUp
from .identity import Rejections, new_attempt_token
from .plan import Plan
from .policies import Limits, RetryPolicy
from .prices import Prices
from .result import TaskStatus, WorkflowResult
from .waiting_room import WaitingRoom
from .workflow_state import AttemptTimedOut, TaskRun, Workflow, workflow_result

__all__ = ["WorkflowTransitions"]

logger = logging.getLogger(__name__)


class WorkflowTransitions(GivingUp):
    """The orchestrator's state and the transitions of its tasks (not started by itself)."""

    _workflows: dict[str, Workflow]
    _waiting_room: WaitingRoom
    _rejections: Rejections
    _rng: random.Random
    _tracer: trace.Tracer
    _metrics: Instruments
    _event_log: EventLog | None
    _memory: MemoryStore | None
    limits: Limits
    retry: RetryPolicy
    prices: Prices
    handoffs: Mapping[str, frozenset[str]]

    # -- workflows ---------------------------------------------------------------------

    def _new_workflow(
        self,
        workflow_id: str,
        plan: Plan,
        future: pykka.Future[WorkflowResult],
        span: trace.Span,
        *,
        owns_span: bool,
        finished: Mapping[str, TaskFinished] | None = None,
        planning: Mapping[str, TokenUsage] | None = None,
    ) -> Workflow:
        """Register a workflow; tasks in ``finished`` take their recorded outcome.

        ``planning`` is what the planner spent on the plan, by model.
        """
        span.set_attribute("actorchestra.workflow.id", workflow_id)
        span.set_attribute("actorchestra.workflow.tasks", len(plan.tasks))
        tasks = {
            t.id: TaskRun(
                task=t, order=i, agent=t.agent, target=t.agent, waiting=len(set(t.depends_on))
            )
            for i, t in enumerate(plan.tasks)
        }
        wf = Workflow(
            id=workflow_id,
            plan=plan,
            future=future,
            span=span,
            owns_span=owns_span,
            tasks=tasks,
            dependents=plan.dependents(),
            submitted_mono=time.monotonic(),
            open_tasks=len(tasks),
            prices=self.prices,
        )
        for model, usage in (planning or {}).items():
            wf.spend(None, usage, model)
        for task_id, record in (finished or {}).items():
            run = tasks[task_id]
            run.restore(record)
            for model, usage in run.spent.items():
                wf.spent[model] = wf.spent.get(model, TokenUsage()) + usage
            wf.open_tasks -= 1
            wf.failures += run.status is TaskStatus.FAILED
        self._workflows[wf.id] = wf
        for run in tasks.values():
            if not run.task.depends_on and run.status is TaskStatus.PENDING:
                self._ready(wf, run)
        for task_id in finished or {}:
            self._settle_dependents(wf, tasks[task_id])
        return wf

    @contextlib.contextmanager
    def _in_span(self, span: trace.Span) -> Iterator[None]:
        """Make a workflow's ``invoke_workflow`` span current (nothing to do untraced)."""
        if not self._bus.tracing:
            yield
            return
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            yield
        finally:
            otel_context.detach(token)

    def _record(self, event_type: type[Event], **fields: Any) -> None:  # noqa: ANN401
        """Publish a lifecycle record, only if anyone subscribes (building one costs ~3 us)."""
        if self._bus.has_subscribers(event_type):
            self._bus.publish(event_type(source=self.name, **fields))

    def _set_timer(self, run: TaskRun, delay: float | None, message: object = None) -> None:
        """Replace the task's timer: tell ``message`` to self in ``delay`` s (``None``: none)."""
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        if delay is None:
            return

        def tell() -> None:  # runs in the timer thread
            with contextlib.suppress(pykka.ActorDeadError):
                self.actor_ref.tell(message)

        run.timer = TIMERS.call_later(delay, tell)

    # -- attempts ----------------------------------------------------------------------

    def _start_attempt(
        self, wf: Workflow, run: TaskRun, *, new_attempt: bool, route: bool = True
    ) -> None:
        task = run.task
        if new_attempt:
            run.attempts += 1
        steps = wf.step()  # the root's: a child workflow's steps count there (delegation.py)
        max_steps = self.limits.max_steps
        if max_steps is not None and steps > max_steps:
            self._cancel(wf.root, f"the workflow reached its limit of {max_steps} steps")
            return
        run.status = TaskStatus.RUNNING
        run.dispatches += 1
        if route:
            run.agent = self._router.choose(run.target)
        self._router.started(run.agent)
        run.on_agent = run.agent
        timeout = task.timeout if task.timeout is not None else self.limits.task_timeout
        if timeout is None:
            self._set_timer(run, None)
        else:
            message = AttemptTimedOut(wf.id, task.id, run.attempts, timeout, run.dispatches)
            self._set_timer(run, timeout, message)
        if run.started_at is None:
            run.started_at = datetime.now(UTC)
            run.started_mono = time.monotonic()
        inputs = wf.inputs(run)
        # A new token for every dispatch: only this TaskStarted's agent can end it.
        run.attempt_token = token = new_attempt_token()
        run.tokens[token] = run.attempts
        self._metrics.tasks_started.add(1, {"gen_ai.agent.name": run.agent})
        self._bus.publish(
            TaskStarted(
                source=self.name,
                workflow_id=wf.id,
                task_id=task.id,
                attempt=run.attempts,
                agent=run.agent,
                description=task.description,
                inputs=inputs,
                context=run.context or {},
                missing=wf.missing(run) if task.optional else {},
                handoff_depth=run.handoff_depth,
                timeout=timeout,
                attempt_token=token,
                replica=run.replica,
            )
        )

    # -- terminal states ---------------------------------------------------------------

    def _completed(self, wf: Workflow, run: TaskRun, event: TaskCompleted) -> None:
        self._attempt_over(run, ok=True)
        wf.spend(run, event.usage, event.model)
        self._complete(wf, run, event.result)

    def _complete(self, wf: Workflow, run: TaskRun, result: JsonValue) -> None:
        run.result = result
        self._close(wf, run, TaskStatus.COMPLETED)
        self._settle_dependents(wf, run)

    def _fail(self, wf: Workflow, run: TaskRun, kind: FailureKind, error: str) -> None:
        """End ``run`` as failed (no more attempts); past the error budget, stop ``wf``."""
        run.set_error(kind, error)
        self._close(wf, run, TaskStatus.FAILED)
        wf.failures += 1
        budget = wf.plan.error_budget
        if budget is not None and wf.failures > budget and not wf.cancelled:
            wf.failed_reason = f"{wf.failures} tasks failed, over its error budget of {budget}"
            self._cancel(wf, f"the workflow's {wf.failed_reason}")
            return
        self._settle_dependents(wf, run)

    def _settle_dependents(self, wf: Workflow, ended: TaskRun) -> None:
        """``ended`` ended: each pending dependent waits for one dependency fewer, or ends.

        A dependent waits for one fewer when ``ended`` completed or is one of its
        ``optional`` dependencies; otherwise it is skipped (``ended`` was skipped) or
        cancelled (``ended`` failed or was cancelled), and its own dependents likewise.
        """
        stack = [ended]
        while stack:
            done = stack.pop()
            for dep_id in wf.dependents[done.task.id]:
                run = wf.tasks[dep_id]
                if run.status is not TaskStatus.PENDING:
                    continue
                if done.status is TaskStatus.COMPLETED or done.task.id in run.task.optional:
                    run.waiting -= 1
                    if run.waiting == 0:
                        self._ready(wf, run)
                elif done.status is TaskStatus.SKIPPED:
                    self._skip(wf, run, f"skipped: dependency {done.task.id!r} was skipped")
                else:
                    why = f"cancelled: dependency {done.task.id!r} did not complete"
                    run.set_error(FailureKind.CANCELLED, why)
                    self._close(wf, run, TaskStatus.CANCELLED)
                if run.status is not TaskStatus.PENDING:
                    stack.append(run)

    def _ready(self, wf: Workflow, run: TaskRun) -> None:
        """Queue ``run``, whose dependencies all ended, or skip it if its condition is false."""
        when = run.task.when
        if when is not None and not when.holds(wf.inputs(run)):
            self._skip(wf, run, f"skipped: the condition {when} is false")
            return
        heapq.heappush(wf.ready, (-run.task.priority, run.order, run.task.id))

    def _skip(self, wf: Workflow, run: TaskRun, why: str) -> None:
        run.error, run.error_kind = why, None
        self._close(wf, run, TaskStatus.SKIPPED)

    def _cancel(self, wf: Workflow, reason: str) -> None:
        """End every unfinished task of ``wf`` as cancelled."""
        wf.cancelled = True
        wf.cancel_reason = wf.cancel_reason or reason
        wf.ready.clear()
        wf.span.add_event("cancel", {"actorchestra.cancel.reason": reason})
        for run in wf.tasks.values():
            if run.status in (TaskStatus.PENDING, TaskStatus.RUNNING):
                run.set_error(FailureKind.CANCELLED, f"cancelled: {reason}")
                self._close(wf, run, TaskStatus.CANCELLED)

    def _check_budget(self, wf: Workflow) -> None:
        """Stop ``wf`` (cancel what is unfinished) if its spend passed its budget."""
        budget = self.limits.budget
        if budget is None or wf.over_budget or wf.cancelled:
            return
        reason = budget.exceeded(wf.spent, wf.prices)
        if reason:
            wf.over_budget = reason
            self._cancel(wf, f"the workflow {reason}")

    def _close(self, wf: Workflow, run: TaskRun, status: TaskStatus) -> None:
        if status is not TaskStatus.COMPLETED:
            self._give_up(wf, run, run.error or status.value)  # an attempt still out there
        self._attempt_over(run, ok=None)
        self._set_timer(run, None)
        run.retry_pending = False
        run.status = status
        run.finished_at = datetime.now(UTC)
        run.finished_mono = time.monotonic()
        wf.open_tasks -= 1
        failed = status is not TaskStatus.COMPLETED
        self._record(
            TaskFinished,
            workflow_id=wf.id,
            task_id=run.task.id,
            attempt=max(1, run.attempts),
            status=status.value,
            attempts=run.attempts,
            agent=run.agent,
            error=run.error if failed else "",
            error_kind=run.error_kind if failed else None,
            result=run.result,
            usage=run.usage,
            usage_by_model=run.spent,
            duration=(run.finished_mono - run.started_mono) if run.started_at else 0.0,
        )
        attributes = {"gen_ai.agent.name": run.agent, "actorchestra.task.status": status.value}
        if status is TaskStatus.COMPLETED:
            self._metrics.tasks_completed.add(1, {"gen_ai.agent.name": run.agent})
        if run.started_at is not None:
            self._metrics.task_duration.record(run.finished_mono - run.started_mono, attributes)

    def _finish(self, wf: Workflow, *, record: bool = True) -> None:
        del self._workflows[wf.id]
        result = workflow_result(wf)
        if not result.ok:  # the span tells why, before it ends
            failed = [r.task_id for r in result.tasks if r.status is not TaskStatus.COMPLETED]
            why = f"cancelled: {wf.cancel_reason}; " if wf.cancelled else ""
            wf.span.set_status(trace.StatusCode.ERROR, f"{why}tasks not completed: {failed}")
        if record:
            self._record(
                WorkflowFinished,
                workflow_id=wf.id,
                status=result.status.value,
                duration=result.duration,
            )
        if self._memory is not None:
            try:
                self._memory.discard(workflow_namespace(wf.id))
            except MemoryStoreError:
                logger.exception("Could not discard the short-term memory of %s", wf.id)
        if wf.owns_span:
            wf.span.end()
        if wf.over_budget:
            unfinished = [r.task_id for r in result.tasks if r.status is not TaskStatus.COMPLETED]
            msg = (
                f"Workflow {wf.id!r} {wf.over_budget}; it was stopped, tasks not completed: "
                f"{unfinished} (see .result for what was spent, on what)."
            )
            exc = BudgetExceeded(msg, workflow_id=wf.id, reason=wf.over_budget, result=result)
            wf.future.set_exception((BudgetExceeded, exc, None))
            return
        wf.future.set(result)
