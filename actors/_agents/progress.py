"""An attempt's streamed progress, published as :class:`bus.TaskProgress` events."""

from __future__ import annotations

import contextvars
import threading
import time

from bus import BusClosedError, EventBus, TaskProgress

from .task_context import TaskContext

__all__ = ["ProgressStream"]


class ProgressStream:
    """Publishes the text of an attempt's streamed model answers, in order, coalesced.

    Pieces of text (:meth:`delta`, from the thread reading the stream) are gathered and
    published as one :class:`bus.TaskProgress` at most every ``interval`` seconds, and
    what is left when a model call ends (:meth:`flush`). Events carry the attempt's
    workflow, task and attempt, never its token, and are published in the trace context
    of whoever made this object (the ``invoke_agent`` span). Nothing is published once
    the attempt is cancelled or the bus is closed.

    Args:
        bus: Where the events go.
        agent: The agent's name (the events' ``source`` and ``agent``).
        task: The attempt.
        interval: Seconds between events, at least (``0``: one per piece).
    """

    def __init__(self, bus: EventBus, agent: str, task: TaskContext, interval: float) -> None:
        self._bus = bus
        self._agent = agent
        self._task = task
        self._interval = interval
        self._context = contextvars.copy_context()
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._last = 0.0
        self._sequence = 0
        self._chunks = 0
        self.model_call = 1

    def delta(self, text: str) -> None:
        """Take one piece of the answer's text (any thread); publish if it is time."""
        with self._lock:
            self._pending.append(text)
            self._chunks += 1
            if time.monotonic() - self._last >= self._interval:
                self._publish()

    def flush(self) -> None:
        """Publish the text gathered and not yet published (the model call ended)."""
        with self._lock:
            if self._pending:
                self._publish()

    def _publish(self) -> None:
        """Publish what is pending (the lock is held)."""
        task = self._task
        text = "".join(self._pending)
        self._pending.clear()
        self._last = time.monotonic()
        if task.cancellation.cancelled:
            return
        event = TaskProgress(
            source=self._agent,
            workflow_id=task.workflow_id,
            task_id=task.task_id,
            attempt=task.attempt,
            agent=self._agent,
            model_call=self.model_call,
            sequence=self._sequence,
            text=text,
            chunks=self._chunks,
        )
        self._sequence += 1
        try:
            self._context.copy().run(self._bus.publish, event)
        except BusClosedError:  # the team is stopping: progress has nowhere to go
            return
