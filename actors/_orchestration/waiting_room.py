"""The waiting room: ready tasks waiting for an agent with capacity, across workflows."""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Iterator

from .routing import AgentRouter
from .workflow_state import TaskRun, Workflow

__all__ = ["WaitingRoom"]


class WaitingRoom:
    """Per target (an agent or a capability), the tasks waiting for room on an agent.

    An agent has room while it runs fewer than ``max_in_flight`` attempts and none given
    up on is still out there (see :meth:`AgentRouter.has_capacity`); a replicated task
    waits for room on as many agents as its vote needs (:attr:`TaskRun.needed`). Tasks
    leave in order: highest priority first, then in the order they arrived, across
    workflows.

    Args:
        router: Whose agents' load decides which targets have room.
        max_in_flight: Attempts in flight per agent, at most; ``None`` for no limit.
        waited: Told each leaving task's target and the seconds it waited.
    """

    def __init__(
        self,
        router: AgentRouter,
        max_in_flight: int | None,
        waited: Callable[[str, float], object] | None = None,
    ) -> None:
        self._router = router
        self._limit = max_in_flight
        self._waited = waited
        # By target: heaps of (-priority, arrival, since (monotonic s), agents needed,
        # workflow, task id).
        self._heaps: dict[str, list[tuple[int, int, float, int, Workflow, str]]] = {}
        self._arrivals = itertools.count()

    def __bool__(self) -> bool:
        """Whether any task waits."""
        return bool(self._heaps)

    def has_room(self, target: str, count: int = 1) -> bool:
        """Whether ``count`` agents that could take ``target``'s next attempt have room now."""
        return self._router.has_capacity(target, self._limit, count)

    def add(self, wf: Workflow, run: TaskRun) -> None:
        """Let ``run`` wait for room on as many agents of its target as it needs."""
        arrival = next(self._arrivals)
        entry = (-run.task.priority, arrival, time.monotonic(), run.needed, wf, run.task.id)
        heapq.heappush(self._heaps.setdefault(run.target, []), entry)

    def leaving(self) -> Iterator[tuple[Workflow, str]]:
        """Take out, in order, each waiting task whose target has room.

        Room is checked again before each one, so the consumer may start each task
        before asking for the next. Entries name the workflow itself, not its id (an
        id may be reused once its workflow ended): the consumer skips the stale ones.
        """
        for target, heap in list(self._heaps.items()):
            while heap and self.has_room(target, heap[0][3]):
                _, _, since, _, wf, task_id = heapq.heappop(heap)
                if self._waited is not None:
                    self._waited(target, time.monotonic() - since)
                yield wf, task_id
            if not heap:
                del self._heaps[target]

    def backlog(self, target: str) -> tuple[int, float]:
        """Tasks waiting for ``target``, and the seconds the longest-waiting one has."""
        heap = self._heaps.get(target)
        if not heap:
            return 0, 0.0
        return len(heap), time.monotonic() - min(entry[2] for entry in heap)
