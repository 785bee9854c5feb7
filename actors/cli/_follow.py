"""Following a running workflow to its end: its events into the view, approvals, a deadline."""

from __future__ import annotations

import getpass
import queue
import time
from collections.abc import Callable

import pykka

from actors._orchestration.result import WorkflowResult
from actors._orchestration.submit import CANCEL_GRACE
from actors._orchestration.team import Team
from bus import ApprovalRequested, Event

from ._progress import Progress
from ._view import View

__all__ = ["Decider", "ask_on_terminal", "follow"]

TICK = 0.1
"""Seconds between redraws of running tasks' durations (and checks of the deadline)."""

Decider = Callable[[ApprovalRequested], tuple[bool, str] | None]
"""Decides a requested approval: ``(approved, reason)``, or ``None`` to leave it waiting."""


def ask_on_terminal(request: ApprovalRequested) -> tuple[bool, str]:
    """Ask on standard input whether to approve ``request``'s task (``y``/``yes``: approve).

    A closed standard input (end of file) rejects it.
    """
    what = f"{request.agent}: {request.description}" if request.description else request.agent
    try:
        answer = input(f"approve task {request.task_id} ({what})? [y/N] ")
    except EOFError:
        return False, "no answer (standard input closed)"
    approved = answer.strip().lower() in ("y", "yes")
    return approved, "" if approved else f"answered {answer.strip()!r}"


def follow(
    team: Team,
    future: pykka.Future[WorkflowResult],
    events: queue.SimpleQueue[Event],
    progress: Progress,
    view: View,
    *,
    workflow_id: str,
    timeout: float,
    decide: Decider | None = None,
    by: str | None = None,
) -> WorkflowResult | None:
    """Show the workflow's events in ``view`` until its result comes, and return it.

    Args:
        team: The team running it (for approvals and cancelling).
        future: Its result, as ``Team.submit`` or ``Team.resume`` returned it.
        workflow_id: Its id.
        events: Its events, as :func:`watch` queues them.
        progress: The rows the events update.
        view: Where changes go (stopped before returning or raising).
        timeout: Seconds to wait for the result; past them the workflow is cancelled
            and its partial result awaited for a few seconds more.
        decide: Called (in this thread) for each approval request; its decision goes
            to ``team.approve``. ``None``: requests wait (to their approval timeout).
        by: Who decides, for the record; the user's login name by default.

    Returns:
        The result; ``None`` if none came even after cancelling.

    Raises:
        KeyboardInterrupt: Interrupted (Ctrl-C): the workflow was cancelled first.
        WorkflowError, BudgetExceeded: As the future raises them.
    """
    deadline = time.monotonic() + timeout
    cancelled = False
    try:
        while True:
            # At most a tick's worth of events at once: the deadline is checked each round.
            tick_ends = time.monotonic() + TICK
            while (left := tick_ends - time.monotonic()) > 0:
                try:
                    event = events.get(timeout=left)
                except queue.Empty:
                    break
                _show(team, event, progress, view, decide=decide, by=by or _user())
            try:
                result = future.get(timeout=0)
            except pykka.Timeout:
                view.tick()
            else:
                while not events.empty():
                    _show(team, events.get(), progress, view, decide=None, by="")
                return result
            if time.monotonic() > deadline:
                if cancelled:
                    return None
                team.cancel(workflow_id, f"actorchestra gave up after {timeout:g} s")
                cancelled, deadline = True, time.monotonic() + CANCEL_GRACE
    except KeyboardInterrupt:
        team.cancel(workflow_id, "interrupted (Ctrl-C)")
        raise
    finally:
        view.stop()


def _show(
    team: Team, event: Event, progress: Progress, view: View, *, decide: Decider | None, by: str
) -> None:
    row = progress.apply(event)
    if row is not None:
        view.changed(row)
    if decide is None or not isinstance(event, ApprovalRequested):
        return
    view.pause()
    try:
        decision = decide(event)
    finally:
        view.resume()
    if decision is not None:
        approved, reason = decision
        team.approve(event.workflow_id, event.task_id, approved=approved, by=by, reason=reason)


def _user() -> str:
    try:
        return f"{getpass.getuser()} (actorchestra)"
    except (OSError, KeyError):
        return "actorchestra"
