"""A workflow's events as they happen, for ``for`` and ``async for``."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import time
from collections.abc import AsyncIterator, Callable, Iterator

from actors._errors import WorkflowError, WorkflowTimeout
from bus import (
    ApprovalDecided,
    ApprovalRequested,
    Delegated,
    Event,
    EventBus,
    Handoff,
    TaskCompleted,
    TaskFailed,
    TaskFinished,
    TaskProgress,
    TaskStarted,
    WorkflowFinished,
)

from .result import WorkflowResult
from .submit import CANCEL_GRACE
from .workflow_future import WorkflowFuture

__all__ = ["STREAMED", "WorkflowStream"]

STREAMED: tuple[type[Event], ...] = (
    TaskStarted,
    TaskProgress,
    Handoff,
    Delegated,
    ApprovalRequested,
    ApprovalDecided,
    TaskCompleted,
    TaskFailed,
    TaskFinished,
    WorkflowFinished,
)
"""The event types :meth:`actors.Team.stream` yields by default (subclasses too)."""

_END = object()


class WorkflowStream:
    """One workflow's events, in publish order, while it runs: ``for`` or ``async for``.

    Made by :meth:`actors.Team.stream`, which subscribes before it submits, so no event
    of the workflow is missed; events of its child workflows (``<id>/...``, see
    :class:`actors.Delegate`) come too. Iteration ends after its ``WorkflowFinished``; then
    :attr:`result` holds the outcome. Events are queued as published (the publisher
    never waits for the reader), so a slow reader holds at most the workflow's events.
    ``async for`` never blocks the event loop: events reach it with
    ``loop.call_soon_threadsafe``. Cancelling the task that iterates cancels the
    workflow; leaving the loop early does not (call :meth:`cancel`).

    Attributes:
        workflow_id: The workflow.

    Raises:
        WorkflowTimeout: (from iteration) The workflow did not end within the stream's
            ``timeout``: it was cancelled, and did not end within 5 s more either.
    """

    def __init__(
        self,
        bus: EventBus,
        workflow_id: str,
        *,
        types: tuple[type[Event], ...],
        timeout: float | None,
        cancel: Callable[[str, str], None],
    ) -> None:
        self.workflow_id = workflow_id
        self._bus = bus
        self._cancel = cancel
        self._timeout = timeout
        self._cancelled = False  # by the timeout
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._future: WorkflowFuture | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        children = f"{workflow_id}/"  # child workflows' ids (see actors.Delegate)

        def mine(event: Event) -> bool:
            return event.workflow_id == workflow_id or event.workflow_id.startswith(children)

        self._subscriptions = [bus.subscribe(t, self._put, where=mine) for t in types]

    def started(self, future: WorkflowFuture) -> None:
        """Follow ``future``: iteration ends once it resolves (called by the team)."""
        self._future = future
        future.add_done_callback(self._ended)

    def close(self) -> None:
        """Stop listening to the bus (at the end, or when the workflow could not start)."""
        for subscription in self._subscriptions:
            self._bus.unsubscribe(subscription)

    @property
    def result(self) -> WorkflowResult:
        """The workflow's result, once iteration ended.

        Raises:
            WorkflowError: The workflow has not ended yet; or what the workflow's
                future raises (``BudgetExceeded``, a ``WorkflowError`` if the
                orchestrator stopped first).
        """
        if self._future is None or not self._future.done:
            msg = f"Workflow {self.workflow_id!r} has not ended; iterate its stream to the end."
            raise WorkflowError(msg)
        return self._future.get(timeout=0)

    def cancel(self, reason: str = "by request") -> None:
        """Cancel the workflow; the stream goes on to its end (the cancelled tasks)."""
        self._cancel(self.workflow_id, reason)

    def __iter__(self) -> Iterator[Event]:
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while True:
            try:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                deadline = self._gave_up()
                continue
            if item is _END:
                return
            yield item  # type: ignore[misc]  # only events and _END are queued

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        self._loop = asyncio.get_running_loop()
        self._wake.set()  # look at what was queued before the loop was known
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except TimeoutError:
                    deadline = self._gave_up()
                except asyncio.CancelledError:
                    self.cancel("the task iterating its events was cancelled")
                    raise
                self._wake.clear()
                continue
            if item is _END:
                return
            yield item  # type: ignore[misc]  # only events and _END are queued

    def _gave_up(self) -> float:
        """The timeout passed: cancel the workflow (once), then allow it a grace period."""
        if self._cancelled:
            msg = (
                f"Workflow {self.workflow_id!r} did not end within {self._timeout:g} s of its "
                f"stream; it was cancelled and did not end within {CANCEL_GRACE:g} s either."
            )
            raise WorkflowTimeout(msg, workflow_id=self.workflow_id, partial=None)
        self._cancelled = True
        self.cancel(f"Team.stream gave up after {self._timeout:g} s")
        return time.monotonic() + CANCEL_GRACE

    def _put(self, event: Event) -> None:  # in the publisher's thread
        self._queue.put(event)
        self._notify()

    def _ended(self, _: WorkflowFuture) -> None:  # in the orchestrator's thread
        self.close()
        self._queue.put(_END)
        self._notify()

    def _notify(self) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody reads
                loop.call_soon_threadsafe(self._wake.set)
