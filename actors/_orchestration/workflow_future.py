"""A workflow's future: Pykka's threading future that also calls back when it resolves."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pykka

from .result import WorkflowResult

__all__ = ["WorkflowFuture"]

DoneCallback = Callable[["WorkflowFuture"], object]


class WorkflowFuture(pykka.ThreadingFuture[WorkflowResult]):
    """A :class:`pykka.ThreadingFuture` of a :class:`WorkflowResult`, with done callbacks.

    Pykka's futures are waited on (``get``); an event loop must not wait, so this one
    also tells: :meth:`add_done_callback` runs a function once the result or the error
    is set, in the thread that set it (the orchestrator's), or at once if it already
    is. The asyncio API (:meth:`actors.Team.arun`) hands the outcome to its loop from
    there with ``loop.call_soon_threadsafe``, so no thread waits for a workflow.
    """

    def __init__(self) -> None:
        super().__init__()
        self._callbacks: list[DoneCallback] | None = []
        self._callbacks_lock = threading.Lock()

    def add_done_callback(self, callback: DoneCallback) -> None:
        """Call ``callback(self)`` once resolved (at once, here, if it is already).

        It must not block (it runs in the orchestrator's thread); what it raises is
        not caught.
        """
        with self._callbacks_lock:
            if self._callbacks is not None:
                self._callbacks.append(callback)
                return
        callback(self)

    def get(self, *, timeout: float | None = None) -> WorkflowResult:
        """The result, waiting at most ``timeout`` seconds (as :meth:`pykka.Future.get`).

        Raises:
            pykka.Timeout: Not resolved in time. What the workflow failed with
                (``WorkflowError``, ``BudgetExceeded``, ...) otherwise.
        """
        result: WorkflowResult = super().get(timeout=timeout)
        return result

    @property
    def done(self) -> bool:
        """True once the result or the error is set."""
        with self._callbacks_lock:
            return self._callbacks is None

    def set(self, value: Any | None = None) -> None:  # noqa: ANN401 - as pykka types it
        """Set the result, then run the done callbacks."""
        super().set(value)
        self._resolved()

    def set_exception(self, exc_info: Any = None) -> None:  # noqa: ANN401 - as pykka types it
        """Set the error, then run the done callbacks."""
        super().set_exception(exc_info)
        self._resolved()

    def _resolved(self) -> None:
        with self._callbacks_lock:
            callbacks, self._callbacks = self._callbacks or [], None
        for callback in callbacks:
            callback(self)
