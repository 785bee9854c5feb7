"""Fault containment: a fault in handling one workflow ends that workflow, not the others."""

from __future__ import annotations

import contextlib
import logging
import time

import pydantic
from opentelemetry import trace

from actors._errors import WorkflowError
from actors._json_value import describe_validation_error
from bus import FailureKind, WorkflowFinished

from .result import TaskStatus
from .transitions import WorkflowTransitions
from .workflow_state import Resume, Submit, Workflow

__all__ = ["Containment"]

logger = logging.getLogger(__name__)


class Containment(WorkflowTransitions):
    """Ends a workflow whose handling raised, and every workflow when the actor stops."""

    def _contain(
        self, exc: Exception, *, wf: Workflow | None = None, message: Submit | Resume | None = None
    ) -> None:
        """End the workflow whose handling raised ``exc`` (``wf``, or ``message``'s).

        The other workflows go on. Its unfinished tasks fail (each still ends exactly
        once), and its future fails with a :class:`WorkflowError` whose ``__cause__`` is
        ``exc`` (none for a pydantic error: its message quotes model output). A
        workflow that had already ended is left as it ended; the fault is logged.
        """
        invalid = isinstance(exc, pydantic.ValidationError)
        what = describe_validation_error(exc) if isinstance(exc, pydantic.ValidationError) else ""
        workflow_id = wf.id if wf is not None else message.workflow_id if message else "?"
        logger.error(
            "Orchestrator %r: workflow %s failed on an error in its handling (%s%s); "
            "other workflows go on",
            self.name,
            workflow_id,
            type(exc).__name__,
            f": {what}" if what else "",
            exc_info=None if invalid else exc,
        )
        msg = (
            f"Workflow {workflow_id!r} failed: the orchestrator could not handle its data "
            f"({type(exc).__name__}); other workflows go on."
        )
        error = WorkflowError(msg)
        error.__cause__ = None if invalid else exc
        if wf is None and message is not None:
            registered = self._workflows.get(message.workflow_id)
            if registered is None or registered.future is not message.future:
                message.future.set_exception((WorkflowError, error, None))
                return  # failed before it was registered
            wf = registered
        if wf is None or self._workflows.get(wf.id) is not wf:
            return
        del self._workflows[wf.id]
        cause = f"orchestrator error: {type(exc).__name__}"
        try:
            with contextlib.suppress(Exception):  # the same fault may strike again
                for run in wf.tasks.values():
                    if run.status in (TaskStatus.PENDING, TaskStatus.RUNNING):
                        run.set_error(FailureKind.ORCHESTRATOR, cause)
                        self._close(wf, run, TaskStatus.FAILED)
                self._record(
                    WorkflowFinished,
                    workflow_id=wf.id,
                    status="failed",
                    duration=time.monotonic() - wf.submitted_mono,
                )
        finally:
            _cancel_timers(wf)  # the process's timer thread must not hold it
        wf.span.set_status(trace.StatusCode.ERROR, msg)
        if wf.owns_span:
            wf.span.end()
        wf.future.set_exception((WorkflowError, error, None))

    def _abandon(self, how: str) -> None:
        """Fail every unfinished workflow's future: the orchestrator ``how`` (stopped...).

        Their timers are cancelled: the process's timer thread outlives this actor.
        """
        for wf in list(self._workflows.values()):
            _cancel_timers(wf)
            msg = f"Orchestrator {self.name!r} {how} before workflow {wf.id!r} finished."
            exc = WorkflowError(msg)
            wf.span.set_status(trace.StatusCode.ERROR, msg)
            if wf.owns_span:
                wf.span.end()
            wf.future.set_exception((WorkflowError, exc, None))
        self._workflows.clear()


def _cancel_timers(wf: Workflow) -> None:
    for run in wf.tasks.values():
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
