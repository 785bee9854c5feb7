"""Approval gates: a task that needs approval waits for a decision from the approver API."""

from __future__ import annotations

import heapq
import logging

from bus import ApprovalDecided, ApprovalRequested, FailureKind

from .result import TaskStatus
from .transitions import WorkflowTransitions
from .workflow_state import ApprovalTimedOut, Decide, TaskRun, Workflow

__all__ = ["Approvals"]

logger = logging.getLogger(__name__)


class Approvals(WorkflowTransitions):
    """Requests approval for gated tasks, and acts on decisions and their timeouts.

    A gated task publishes :class:`bus.ApprovalRequested` when it becomes ready and
    stays pending; an approving decision makes it ready, a rejection fails it (kind
    ``rejected``), and no decision within ``Limits.approval_timeout`` seconds fails it
    (kind ``approval_timeout``). Either failure cancels its dependents.

    Only the approver API decides (``shared/DESIGN.md``, invariant 4): a decision comes
    as a :class:`Decide` message (``Team.approve``, ``actors.lowlevel.approve``), and
    the orchestrator publishes it as :class:`bus.ApprovalDecided` before acting on it,
    for the event log (a resume honours it) and observers. An ``ApprovalDecided``
    anyone else publishes on the bus is rejected as a ``forged approval``.
    """

    # Ids of the ApprovalDecided events this orchestrator published, until they come
    # back to it from the bus (it subscribes to them to catch forged ones).
    _own_decisions: set[str]

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

    def _decide(self, wf: Workflow, decision: Decide) -> None:
        """Act on a decision from the approver API; one on a task not waiting is ignored."""
        run = wf.tasks.get(decision.task_id)
        if run is None or run.status is not TaskStatus.PENDING or run.approval != "requested":
            logger.info("Ignoring a decision on %s/%s: none is awaited", wf.id, decision.task_id)
            return
        event = ApprovalDecided(
            source=self.name,
            workflow_id=wf.id,
            task_id=run.task.id,
            approved=decision.approved,
            by=decision.by,
            reason=decision.reason,
        )
        self._own_decisions.add(event.id)
        self._bus.publish(event)
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

    def _decision_published(self, event: ApprovalDecided) -> None:
        """Take an ``ApprovalDecided`` from the bus: this orchestrator's own, or forged.

        A forged one naming a workflow this orchestrator runs is rejected (others may
        be another orchestrator's, on the same bus); none is ever applied.
        """
        if event.id in self._own_decisions:
            self._own_decisions.discard(event.id)
        elif event.workflow_id in self._workflows:
            self._rejections.reject(event, "forged approval", "not decided by the approver API")

    def _approval_timed_out(self, wf: Workflow, message: ApprovalTimedOut) -> None:
        run = wf.tasks[message.task_id]
        if run.status is TaskStatus.PENDING and run.approval == "requested":
            why = f"approval: none within {message.timeout:g} s"
            self._fail(wf, run, FailureKind.APPROVAL_TIMEOUT, why)
