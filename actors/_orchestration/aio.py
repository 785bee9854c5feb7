"""asyncio without blocking the loop: a workflow's future handed to the loop when it resolves."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Mapping
from typing import Protocol

from actors._errors import WorkflowError, WorkflowTimeout
from bus import Event, EventBus, TokenUsage

from .plan import Plan
from .result import WorkflowResult
from .stream import STREAMED, WorkflowStream
from .submit import CANCEL_GRACE
from .workflow_future import WorkflowFuture

__all__ = ["AsyncRuns", "arun", "bridge"]


def bridge(
    future: WorkflowFuture, loop: asyncio.AbstractEventLoop, cancel: Callable[[str], None]
) -> asyncio.Future[WorkflowResult]:
    """An asyncio future of ``future``'s outcome, set on ``loop`` when it resolves.

    The outcome goes to the loop with ``loop.call_soon_threadsafe`` from the thread that
    resolves it: nothing waits, in the loop or in a thread. Cancelling the asyncio
    future calls ``cancel(reason)`` (the workflow is cancelled).
    """
    out: asyncio.Future[WorkflowResult] = loop.create_future()

    def transfer() -> None:  # on the loop
        if out.done():
            return
        try:
            out.set_result(future.get(timeout=0))
        except BaseException as exc:
            out.set_exception(exc)

    def resolved(_: WorkflowFuture) -> None:  # in the orchestrator's thread
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(transfer)

    def done(fut: asyncio.Future[WorkflowResult]) -> None:
        if fut.cancelled():
            cancel("the task awaiting it was cancelled")

    out.add_done_callback(done)
    future.add_done_callback(resolved)
    return out


async def arun(
    outcome: asyncio.Future[WorkflowResult],
    workflow_id: str,
    timeout: float | None,
    cancel: Callable[[str], None],
) -> WorkflowResult:
    """Await ``outcome`` for at most ``timeout`` seconds (``None``: no limit).

    Raises:
        WorkflowTimeout: It did not come in time: the workflow was cancelled
            (``cancel(reason)``), and the error carries the partial result.
        asyncio.CancelledError: The awaiting task was cancelled; so is the workflow.
    """
    try:
        return await asyncio.wait_for(asyncio.shield(outcome), timeout)
    except asyncio.CancelledError:
        outcome.cancel()  # cancels the workflow (see bridge)
        raise
    except TimeoutError:
        pass
    cancel(f"Team.arun gave up after {timeout:g} s")
    try:
        partial: WorkflowResult | None = await asyncio.wait_for(outcome, CANCEL_GRACE)
    except (TimeoutError, WorkflowError):
        partial = None
    msg = (
        f"Workflow {workflow_id!r} did not end within {timeout:g} s; it was cancelled "
        "(see .partial for what it had done)."
    )
    raise WorkflowTimeout(msg, workflow_id=workflow_id, partial=partial)


class _Team(Protocol):
    bus: EventBus

    def submit(
        self,
        plan: Plan,
        *,
        workflow_id: str | None = None,
        name: str = "workflow",
        planning: Mapping[str, TokenUsage] | None = None,
    ) -> WorkflowFuture: ...

    def cancel(self, workflow_id: str, reason: str = "by request") -> None: ...


class AsyncRuns:
    """:class:`actors.Team`'s asyncio API and event streams (a mixin of ``Team``)."""

    def asubmit(
        self: _Team,
        plan: Plan,
        *,
        workflow_id: str | None = None,
        name: str = "workflow",
        planning: Mapping[str, TokenUsage] | None = None,
    ) -> asyncio.Future[WorkflowResult]:
        """Start ``plan`` from a coroutine; an asyncio future of its result, at once.

        Like :meth:`submit`, without blocking the running loop: the result is handed
        to it when the workflow ends. Cancelling the future cancels the workflow.

        Raises:
            RuntimeError: No event loop is running in this thread.
            PlanValidationError: The plan is not a DAG over this team's agents.
        """
        loop = asyncio.get_running_loop()
        workflow_id = workflow_id or uuid.uuid4().hex
        future = self.submit(plan, workflow_id=workflow_id, name=name, planning=planning)
        return bridge(future, loop, lambda why: self.cancel(workflow_id, why))

    async def arun(
        self: _Team,
        plan: Plan,
        *,
        timeout: float | None = 60.0,
        name: str = "workflow",
        workflow_id: str | None = None,
        planning: Mapping[str, TokenUsage] | None = None,
    ) -> WorkflowResult:
        """Run ``plan`` to its end from a coroutine: :meth:`run`, never blocking the loop.

        Cancelling the awaiting task cancels the workflow (and re-raises
        ``asyncio.CancelledError``).

        Raises:
            PlanValidationError, BudgetExceeded, WorkflowTimeout, WorkflowError: As
                :meth:`run` raises them.
        """
        loop = asyncio.get_running_loop()
        workflow_id = workflow_id or uuid.uuid4().hex
        future = self.submit(plan, workflow_id=workflow_id, name=name, planning=planning)

        def cancel(why: str) -> None:
            self.cancel(workflow_id, why)

        return await arun(bridge(future, loop, cancel), workflow_id, timeout, cancel)

    def stream(
        self: _Team,
        plan: Plan,
        *,
        timeout: float | None = 60.0,
        name: str = "workflow",
        workflow_id: str | None = None,
        types: tuple[type[Event], ...] = STREAMED,
    ) -> WorkflowStream:
        """Start ``plan`` and iterate its events as they happen (``for`` / ``async for``).

        Yields the workflow's events of ``types`` (by default :data:`STREAMED`: task
        started, progress (an ``LLMAgent(stream=True)``'s tokens), handoff, approval
        requested and decided, delegated, task completed, failed and finished,
        workflow finished; child workflows' too), then stops; ``.result`` is then its result.
        Past ``timeout`` seconds the workflow is cancelled (see :class:`WorkflowStream`).

        Raises:
            PlanValidationError: The plan is not a DAG over this team's agents.

        Example:
            >>> from actors import Agent, Plan, Task, Team
            >>> from bus import EventBus
            >>> class Echo(Agent):
            ...     def handle(self, task):
            ...         return task.description
            >>> bus = EventBus(tracing=False)
            >>> with Team([Echo.child_spec("echo", bus)], bus=bus) as team:
            ...     events = team.stream(Plan(tasks=[Task(id="t", agent="echo")]))
            ...     print([event.type for event in events])
            ...     print(events.result.status.value)
            ['task.started', 'task.completed', 'task.finished', 'workflow.finished']
            completed
        """
        workflow_id = workflow_id or uuid.uuid4().hex
        events = WorkflowStream(
            self.bus, workflow_id, types=types, timeout=timeout, cancel=self.cancel
        )
        try:
            future = self.submit(plan, workflow_id=workflow_id, name=name)
        except BaseException:
            events.close()
            raise
        events.started(future)
        return events
