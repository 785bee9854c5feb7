"""Approval gates: a task that needs approval waits for an ``ApprovalDecided`` before it runs."""

from __future__ import annotations

import heapq
import logging

from bus import ApprovalDecided, ApprovalRequested, FailureKind

from .result import TaskStatus
from .transitions import WorkflowTransitions
from .workflow_state import ApprovalTimedOut, TaskRun, Workflow

__all__ = ["Approvals"]

logger = logging.getLogger(__name__)


class Approvals(WorkflowTransitions):
    """Requests approval for gated tasks, and acts on decisions and their timeouts.

    A gated task publishes :class:`bus.ApprovalRequested` when it becomes ready and
    stays pending; an approving decision makes it ready, a rejection fails it (kind
    ``rejected``), and no decision within ``Limits.approval_timeout`` seconds fails it
    (kind ``approval_timeout``). Either failure cancels its dependents.
    """

    def _request_approval(self, wf: Workflow, run: TaskRun) -> None:
        run.approval = "requested"
        timeout = self.limits.approval_timeout
        if timeout is None:
            self._set_timer(run, None)
        else:
            self._set_timer(run, timeout, ApprovalTimedOut(wf.id, run.task.id, timeout))
        self._bus.publish(
            ApprovalRequested(
                source=self.name,
                workflow_id=wf.id,
                task_id=run.task.id,
                agent=run.target,
                description=run.task.description,
            )
        )

    def _decided(self, wf: Workflow, run: TaskRun, event: ApprovalDecided) -> None:
        if run.status is not TaskStatus.PENDING or run.approval != "requested":
            logger.info("Ignoring a decision on %s/%s: none is awaited", wf.id, run.task.id)
            return
        wf.span.add_event(
            "approval",
            {
                "actorchestra.task.id": run.task.id,
                "actorchestra.approval.approved": event.approved,
                "actorchestra.approval.by": event.by,
            },
        )
        if event.approved:
            run.approval = "approved"
            self._set_timer(run, None)
            heapq.heappush(wf.ready, (-run.task.priority, run.order, run.task.id))
            return
        why = f"rejected by {event.by or 'someone'}: {event.reason or 'no reason given'}"
        self._fail(wf, run, FailureKind.REJECTED, why)

    def _approval_timed_out(self, wf: Workflow, message: ApprovalTimedOut) -> None:
        run = wf.tasks[message.task_id]
        if run.status is TaskStatus.PENDING and run.approval == "requested":
            why = f"approval: none within {message.timeout:g} s"
            self._fail(wf, run, FailureKind.APPROVAL_TIMEOUT, why)
