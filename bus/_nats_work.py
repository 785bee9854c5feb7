"""Attempts in progress in this process, whose messages are acknowledged at their end.

A ``TaskStarted`` taken from JetStream is acknowledged only once the attempt's outcome
(``TaskCompleted``, ``TaskFailed``, ``Handoff``, ``Delegated``, or the ``ChildCrashed`` of the agent
that ran it) is stored in JetStream: if the process dies first, the server redelivers the
task to another process of the pool after the consumer's ack wait. While the attempt
runs, the message is kept alive with in-progress acknowledgements, up to the attempt's
``timeout`` (or the transport's ``max_in_progress``), after which it is let go: the
server redelivers it. Used from the transport's event-loop thread only.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._delegation_events import Delegated
from ._event import Event
from ._supervision_events import ChildCrashed
from ._task_events import Handoff, TaskCompleted, TaskFailed, TaskStarted

if TYPE_CHECKING:
    from nats.aio.msg import Msg

__all__ = ["ATTEMPT_ENDS", "PendingWork"]

ATTEMPT_ENDS = (TaskCompleted, TaskFailed, Handoff, Delegated, ChildCrashed)
"""The events that end an attempt, for its message's acknowledgement."""

Key = tuple[str, str, int, str]  # workflow, task, attempt, attempt token (of a dispatch)


@dataclass(slots=True)
class _Held:
    message: Msg
    deadline: float  # monotonic seconds after which it is let go
    agent: str


class PendingWork:
    """The JetStream messages of dispatches running here, by workflow, task, attempt, token.

    The token tells apart the replicas of one attempt (each on another agent, perhaps
    of this process).
    """

    __slots__ = ("_by_agent", "_held")

    def __init__(self) -> None:
        self._held: dict[Key, _Held] = {}
        self._by_agent: collections.Counter[str] = collections.Counter()

    def __len__(self) -> int:
        return len(self._held)

    def held_for(self, agent: str) -> int:
        """How many attempts of ``agent`` are held here."""
        return self._by_agent[agent]

    def _pop(self, key: Key) -> _Held | None:
        held = self._held.pop(key, None)
        if held is not None:
            self._by_agent[held.agent] -= 1
        return held

    def hold(self, started: TaskStarted, message: Msg, now: float, limit: float) -> None:
        """Keep ``message`` until its attempt ends, or ``limit`` seconds past its timeout."""
        deadline = now + (started.timeout or 0.0) + limit
        key = (started.workflow_id, started.task_id, started.attempt, started.attempt_token)
        self._pop(key)  # a redelivery of an attempt held already replaces it
        self._held[key] = _Held(message, deadline, started.agent)
        self._by_agent[started.agent] += 1

    def drop(self, started: TaskStarted) -> Msg | None:
        """Forget the message of ``started`` (it could not be delivered); returns it."""
        held = self._pop(
            (started.workflow_id, started.task_id, started.attempt, started.attempt_token)
        )
        return None if held is None else held.message

    def ended(self, event: Event) -> Msg | None:
        """The message to acknowledge now that ``event`` is stored, if it ends an attempt."""
        if not isinstance(event, ATTEMPT_ENDS):
            return None
        held = self._pop((event.workflow_id, event.task_id, event.attempt, event.attempt_token))
        return None if held is None else held.message

    def alive(self, now: float) -> list[Msg]:
        """The messages to keep alive; those past their deadline are let go (redelivered)."""
        expired = [key for key, held in self._held.items() if held.deadline < now]
        for key in expired:
            self._pop(key)
        return [held.message for held in self._held.values()]

    def take_all(self) -> list[Msg]:
        """Every held message, forgotten (to hand back at shutdown)."""
        messages = [held.message for held in self._held.values()]
        self._held.clear()
        self._by_agent.clear()
        return messages
