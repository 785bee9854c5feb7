"""Retries and attempt timeouts: a failed or timed-out attempt is retried, with backoff."""

from __future__ import annotations

from bus import FailureKind

from .result import TaskStatus
from .transitions import WorkflowTransitions
from .workflow_state import AttemptTimedOut, RetryDue, TaskRun, Workflow

__all__ = ["Retries"]


class Retries(WorkflowTransitions):
    """Decides, for each failed attempt, between another attempt and the task's failure.

    A retryable failure before ``Task.max_attempts`` schedules the next attempt
    ``RetryPolicy.backoff.delay(n)`` seconds later (at once without a backoff); when
    it is due and its agent is still busy with an attempt given up on, it waits in the
    waiting room. Any other failure ends the task and cancels its dependents. An attempt
    with no outcome within its timeout is given up on (its agent is asked to cancel it)
    and fails as ``timeout``, retryable.
    """

    def _failed(
        self, wf: Workflow, run: TaskRun, kind: FailureKind, error: str, *, retryable: bool
    ) -> None:
        self._attempt_over(run, ok=False)
        self._metrics.tasks_failed.add(1, {"gen_ai.agent.name": run.agent, "error.type": kind})
        if not retryable or run.attempts >= run.task.max_attempts:
            self._fail(wf, run, kind, error)
            return
        run.set_error(kind, error)
        wf.span.add_event(
            "retry",
            {
                "actorchestra.task.id": run.task.id,
                "actorchestra.task.attempt": run.attempts,
                "error.type": kind,
            },
        )
        run.attempts += 1  # outcomes of the failed attempt are late from now on
        run.retry_pending = True
        backoff = self.retry.backoff
        if backoff is None:
            self._retry(wf, run)
            return
        delay = backoff.delay(run.attempts - 1, self._rng)
        self._set_timer(run, delay, RetryDue(wf.id, run.task.id, run.attempts))

    def _retry(self, wf: Workflow, run: TaskRun) -> None:
        """Send a due retry, or let it wait (in order) for an agent free of stuck work."""
        if not self._waiting_room.has_room(run.target, run.needed):
            self._waiting_room.add(wf, run)
            return
        run.retry_pending = False
        self._start_attempt(wf, run, new_attempt=False)

    def _on_timer(self, wf: Workflow, msg: AttemptTimedOut | RetryDue) -> None:
        run = wf.tasks[msg.task_id]
        if run.status is not TaskStatus.RUNNING or run.attempts != msg.attempt:
            return  # the attempt ended meanwhile
        if isinstance(msg, RetryDue):
            if run.retry_pending:
                self._retry(wf, run)
        elif not run.retry_pending and msg.dispatch == run.dispatches:
            run.timer = None
            self._give_up(wf, run, "timeout", failure=True)
            error = f"timeout: attempt {msg.attempt} gave no outcome within {msg.timeout:g} s"
            self._failed(wf, run, FailureKind.TIMEOUT, error, retryable=True)
