"""Re-planning: a failed workflow's remaining work planned again and run, keeping what completed."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from actors._errors import ConfigurationError
from bus import TaskFinished, TokenUsage

from .plan import Plan
from .result import TaskResult, TaskStatus, WorkflowResult
from .submit import wait

if TYPE_CHECKING:
    from .team import Team

__all__ = ["Replan", "Replanner", "carried_records"]


class Replanner(Protocol):
    """What re-plans: :class:`actors.Planner` is one."""

    @property
    def spent(self) -> dict[str, TokenUsage]:
        """Tokens the last call spent, by model."""
        ...

    def replan(
        self, request: str, plan: Plan, result: WorkflowResult, *, timeout: float | None = None
    ) -> Plan:
        """A plan of ``plan``'s completed tasks plus new ones for the work that is left."""
        ...


@dataclass(frozen=True, slots=True)
class Replan:
    """Ask a planner to re-plan a failed workflow's remaining work, at most ``max_rounds`` times.

    Given to ``Team.run(plan, replan=...)``: when the workflow ends as ``failed`` (not
    cancelled, not stopped by its budget), the planner is shown what completed (with
    results) and what did not (with causes) and answers with new tasks; they run as a
    new workflow (id ``<id>.replan<n>``, its ``WorkflowStarted.replans`` naming the
    failed one) where the completed tasks are carried over as completed — not run
    again, their results fed to the new tasks that depend on them. The last round's
    result is returned; :attr:`WorkflowResult.replanned_from` chains to earlier ones.

    Attributes:
        planner: The planner (e.g. :class:`actors.Planner`).
        request: What the team should do, in words (as first given to the planner).
        max_rounds: Re-plans at most (≥ 1).

    Raises:
        ConfigurationError: ``max_rounds`` < 1.
    """

    planner: Replanner
    request: str
    max_rounds: int = 1

    def __post_init__(self) -> None:
        if self.max_rounds < 1:
            msg = f"Replan(max_rounds={self.max_rounds}) must re-plan at least once (>= 1)."
            raise ConfigurationError(msg)

    def run(
        self,
        team: Team,
        plan: Plan,
        result: WorkflowResult,
        *,
        timeout: float | None,
        name: str,
    ) -> WorkflowResult:
        """Re-plan and run while ``result`` failed and rounds are left; the last result.

        ``timeout`` (seconds, ``None``: none) bounds the re-planning and the runs together.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        base = result.workflow_id
        for round_ in range(1, self.max_rounds + 1):
            if result.status is not TaskStatus.FAILED:
                break
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            plan = self.planner.replan(self.request, plan, result, timeout=left)
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            carried = [t for t in result.tasks if t.status is TaskStatus.COMPLETED]
            earlier, workflow_id = result, f"{base}.replan{round_}"
            future = team.submit(
                plan,
                workflow_id=workflow_id,
                name=name,
                planning=self.planner.spent,
                carried=carried,
                replans=earlier.workflow_id,
            )
            result = wait(future, workflow_id, left, team.cancel)
            result = result.model_copy(update={"replanned_from": earlier})
        return result


def carried_records(
    carried: Mapping[str, TaskResult], workflow_id: str, source: str
) -> dict[str, TaskFinished]:
    """The ``TaskFinished`` records of tasks carried over as completed into ``workflow_id``.

    They keep result, attempts, agent and duration; their tokens stay counted where they
    were spent (the earlier workflow), not again.
    """
    return {
        task_id: TaskFinished(
            source=source,
            workflow_id=workflow_id,
            task_id=task_id,
            attempt=max(1, t.attempts),
            status="completed",
            attempts=t.attempts,
            agent=t.agent,
            result=t.result,
            duration=t.duration,
        )
        for task_id, t in carried.items()
    }
