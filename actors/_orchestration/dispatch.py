"""Dispatch: ready tasks go to agents with room, the rest wait; a workflow ends when all end."""

from __future__ import annotations

import heapq

from .approvals import Approvals
from .containment import Containment
from .plan import Plan
from .redundancy import Reducer, check_redundancy
from .result import TaskStatus
from .workflow_state import Workflow

__all__ = ["Dispatching"]


class Dispatching(Approvals, Containment):
    """Sends each workflow's ready tasks (its heap: highest priority, then plan order).

    A ready task that needs approval asks for it first; one whose agent has no room
    waits in the waiting room and leaves it, across workflows, when an agent has room
    again. After every change, :meth:`_settle` dispatches what became ready and resolves
    a workflow whose tasks all ended.
    """

    reducers: dict[str, Reducer]

    def _check_plan(self, plan: Plan) -> None:
        """Check ``plan`` against the agents and reducers here (``PlanValidationError``)."""
        plan.check(self._router.names)
        check_redundancy(plan, self.reducers, self.limits.max_copies)

    def _settle(self, wf: Workflow) -> None:
        """Dispatch what became ready; resolve the workflow once every task ended."""
        self._dispatch(wf)
        if wf.open_tasks == 0 and wf.id in self._workflows:
            self._finish(wf)
        if self._waiting_room:
            self._drain()

    def _dispatch(self, wf: Workflow) -> None:
        ready = wf.ready
        room = self._waiting_room
        while ready:
            _, _, task_id = heapq.heappop(ready)
            run = wf.tasks[task_id]
            if run.task.needs_approval and run.approval != "approved":
                self._request_approval(wf, run)
                continue
            if not room.has_room(run.target, run.needed):
                room.add(wf, run)
                continue
            self._start_attempt(wf, run, new_attempt=True)

    def _drain(self) -> None:
        """Send waiting tasks to agents that have room again (see ``Limits.max_in_flight``)."""
        for wf, task_id in self._waiting_room.leaving():
            if self._workflows.get(wf.id) is not wf:
                continue  # ended meanwhile
            run = wf.tasks[task_id]
            retry = run.status is TaskStatus.RUNNING and run.retry_pending
            if run.status is not TaskStatus.PENDING and not retry:
                continue  # cancelled or ended meanwhile
            run.retry_pending = False
            try:
                with self._in_span(wf.span):  # its cause: not the event that made room
                    self._start_attempt(wf, run, new_attempt=not retry)
                if wf.open_tasks == 0 and wf.id in self._workflows:
                    self._finish(wf)  # e.g. the start hit max_steps: the rest cancelled
            except Exception as exc:  # contained to that workflow
                self._contain(exc, wf=wf)
