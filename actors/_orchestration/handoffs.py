"""Handoffs: an agent hands its task to another along a declared edge, within a bound."""

from __future__ import annotations

from bus import FailureKind, Handoff

from .retries import Retries
from .workflow_state import TaskRun, Workflow

__all__ = ["HANDOFF_FROM", "HANDOFF_REASON", "Handoffs"]

HANDOFF_FROM = "handoff_from"
"""The key of a handed-over task's context naming the agent that handed it over."""
HANDOFF_REASON = "handoff_reason"
"""The key of a handed-over task's context holding the sender's reason."""


class Handoffs(Retries):
    """Re-dispatches a handed-off task to the agent it was handed to.

    The handoff must follow a declared edge (``handoffs``: agent → agents it may hand
    over to) and the task's chain may hold at most ``Limits.max_handoffs``; otherwise
    the task fails (kind ``handoff``, not retried). A handoff is not an attempt: the
    new agent runs the same attempt, with the handoff's context, reason and sender.
    """

    def _handoff(self, wf: Workflow, run: TaskRun, event: Handoff) -> None:
        allowed = self.handoffs.get(event.from_agent, frozenset())
        if event.to_agent not in allowed:
            msg = (
                f"HandoffError: agent {event.from_agent!r} handed task {run.task.id!r} to "
                f"{event.to_agent!r}, which is not a declared handoff; declare it in handoffs."
            )
            self._failed(wf, run, FailureKind.HANDOFF, msg, retryable=False)
            return
        limit = self.limits.max_handoffs
        if run.handoff_depth >= limit:
            msg = f"HandoffError: task {run.task.id!r} reached the limit of {limit} handoffs."
            self._failed(wf, run, FailureKind.HANDOFF, msg, retryable=False)
            return
        wf.span.add_event(
            "handoff",
            {
                "actorchestra.task.id": run.task.id,
                "actorchestra.handoff.from_agent": event.from_agent,
                "actorchestra.handoff.to_agent": event.to_agent,
                "actorchestra.handoff.depth": run.handoff_depth + 1,
            },
        )
        run.handoff_depth += 1
        self._attempt_over(run, ok=None)
        run.agent = run.target = event.to_agent
        run.context = {
            **event.context,
            HANDOFF_REASON: event.reason,
            HANDOFF_FROM: event.from_agent,
        }
        self._start_attempt(wf, run, new_attempt=False, route=False)
