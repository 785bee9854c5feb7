"""Giving up on a dispatch: ask its agent to cancel it, and free the agent when it returns."""

from __future__ import annotations

from actors._actor import Actor
from bus import CancelRequested, Event, EventBus

from .identity import attempt_token_of, same_token
from .routing import AgentRouter
from .workflow_state import TaskRun, Workflow

__all__ = ["GivingUp"]


class GivingUp(Actor):
    """The orchestrator's dispatches in flight, as its router counts them.

    A dispatch given up on (timed out, cancelled, outrun by another replica) may still
    run on its agent: the agent takes no new work until an outcome carrying the
    dispatch's token comes back (:meth:`_returned`).
    """

    _bus: EventBus
    _router: AgentRouter
    # Dispatches given up on that may still run on their agent, by (workflow, task,
    # attempt): the agent and the dispatch's token of each.
    _stuck: dict[tuple[str, str, int], list[tuple[str, str]]]

    def _attempt_over(self, run: TaskRun, *, ok: bool | None) -> None:
        """Tell the router the current dispatch ended (once per dispatch)."""
        if run.on_agent is not None:
            self._router.finished(run.on_agent, ok=ok)
            run.on_agent = None

    def _give_up(self, wf: Workflow, run: TaskRun, reason: str, *, failure: bool = False) -> None:
        """Stop waiting for the dispatch in flight, if any; ask its agent to cancel it.

        ``failure``: whether it counts against the agent's circuit breaker (a timeout
        does; a cancellation, its task's or its workflow's, is not the agent's failure).
        """
        agent = run.on_agent
        if agent is not None:
            run.on_agent = None
            self._give_up_dispatch(wf, run, agent, run.attempt_token, reason, failure=failure)

    def _give_up_dispatch(
        self,
        wf: Workflow,
        run: TaskRun,
        agent: str,
        token: str,
        reason: str,
        *,
        failure: bool,
    ) -> None:
        """Give up on the dispatch of ``run``'s attempt on ``agent`` with ``token``.

        ``failure``: whether it counts as a failure of ``agent`` for its circuit breaker.
        The request carries the token: the agent stops only that dispatch.
        """
        self._router.given_up(agent, failure=failure)
        self._stuck.setdefault((wf.id, run.task.id, run.attempts), []).append((agent, token))
        self._bus.publish(
            CancelRequested(
                source=self.name,
                workflow_id=wf.id,
                task_id=run.task.id,
                attempt=run.attempts,
                agent=agent,
                reason=reason,
                attempt_token=token,
            )
        )

    def _returned(self, event: Event) -> bool:
        """Free the agent of a given-up dispatch that ``event`` shows has ended.

        Only an outcome with the dispatch's token shows it (a forged one does not).
        """
        token = attempt_token_of(event)
        if token is None:
            return False
        key = (event.workflow_id, event.task_id, event.attempt)
        stuck = self._stuck.get(key, [])
        for i, (agent, issued) in enumerate(stuck):
            if same_token(token, issued):
                del stuck[i]
                if not stuck:
                    del self._stuck[key]
                self._router.returned(agent)
                return True
        return False
