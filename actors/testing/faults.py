"""Fault injection for agents: raise, crash, hang, slow, wrong output — seeded, per attempt."""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from actors._agents.agent import Agent
from actors._agents.task_context import TaskContext
from actors._errors import ConfigurationError, TaskError
from actors._supervision.child_spec import ChildSpec
from bus import EventBus

__all__ = ["Faults", "FaultyAgent"]

KINDS = ("raise", "crash", "hang", "slow", "wrong_output", "crash_after", "stuck")


@dataclass(frozen=True, slots=True)
class Faults:
    """What may go wrong in one attempt, each with a probability (they must sum to ≤ 1).

    Attributes:
        raise_: The handler raises a retryable ``TaskError`` (a ``TaskFailed`` event).
        crash: The handler raises ``RuntimeError``: the agent crashes and is restarted.
        hang: The attempt blocks for ``hang_seconds`` (past the orchestrator's timeout),
            or until :meth:`FaultyAgent.release_all`, then answers late; it stops at
            once when the attempt is cancelled, as a well-behaved agent does (a hung
            model call of an :class:`LLMAgent` behaves so).
        stuck: Like ``hang``, but ignoring cancellation (a handler that never checks
            :class:`actors.Cancellation`): its agent takes no new work until it ends.
        slow: The attempt takes ``slow_seconds`` more, then answers.
        wrong_output: The handler returns a value that is not JSON (a ``TaskFailed``
            that is not retryable).
        crash_after: The handler runs (its side effects happen), then the agent crashes
            before reporting: the retry must not repeat the side effects.
        hang_seconds: How long a hang lasts at most, in seconds.
        slow_seconds: How long a slow attempt is delayed, in seconds.
        seed: Seeds the draw; the fault of an attempt depends only on the seed, the
            workflow, the task, the attempt and the replica, never on thread timing.

    Raises:
        ConfigurationError: A probability is negative or they sum to more than 1.
    """

    raise_: float = 0.0
    crash: float = 0.0
    hang: float = 0.0
    slow: float = 0.0
    wrong_output: float = 0.0
    crash_after: float = 0.0
    stuck: float = 0.0
    hang_seconds: float = 30.0
    slow_seconds: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        probabilities = self.probabilities()
        if min(probabilities) < 0 or sum(probabilities) > 1 + 1e-9:
            msg = f"Fault probabilities {probabilities} must be >= 0 and sum to at most 1."
            raise ConfigurationError(msg)

    def probabilities(self) -> tuple[float, ...]:
        """The probabilities, in the order of the fault kinds."""
        return (
            self.raise_,
            self.crash,
            self.hang,
            self.slow,
            self.wrong_output,
            self.crash_after,
            self.stuck,
        )

    def draw(self, workflow_id: str, task_id: str, attempt: int, replica: int = 0) -> str | None:
        """The fault of one attempt (``"raise"``, ``"crash"``, …) or ``None``.

        Each replica of a replicated attempt (``replica`` ≥ 1) draws its own.
        """
        at = f"{attempt}/{replica}" if replica else f"{attempt}"
        key = f"{self.seed}/{workflow_id}/{task_id}/{at}".encode()
        digest = hashlib.blake2b(key, digest_size=8).digest()
        x = random.Random(int.from_bytes(digest, "big")).random()
        for kind, p in zip(KINDS, self.probabilities(), strict=True):
            if x < p:
                return kind
            x -= p
        return None


class FaultyAgent(Agent):
    """An agent that runs ``handler`` but injects :class:`Faults` into its attempts.

    Use it to test that a protocol survives crashes, hangs and bad output: every task
    must still end in exactly one terminal state (see :func:`actors.testing.check_protocol`).

    Args:
        name: The agent's name.
        bus: The bus.
        handler: The real work, ``TaskContext -> JSON value``.
        faults: What to inject.
    """

    _release: ClassVar[threading.Event] = threading.Event()

    def __init__(
        self,
        *,
        name: str,
        bus: EventBus,
        handler: Callable[[TaskContext], object],
        faults: Faults,
    ) -> None:
        super().__init__(name=name, bus=bus)
        self._handler = handler
        self._faults = faults

    @classmethod
    def spec(
        cls,
        name: str,
        bus: EventBus,
        handler: Callable[[TaskContext], object],
        faults: Faults,
        **kwargs: Any,  # noqa: ANN401 - passed to ChildSpec via Agent.child_spec
    ) -> ChildSpec:
        """A child spec for a faulty agent named ``name``."""
        return cls.child_spec(name, bus, handler=handler, faults=faults, **kwargs)

    @classmethod
    def release_all(cls) -> None:
        """End every hang now (call it before stopping a team, so agents stop at once)."""
        cls._release.set()

    @classmethod
    def reset(cls) -> None:
        """Let hangs hang again (after :meth:`release_all`)."""
        cls._release.clear()

    def handle(self, task: TaskContext) -> object:
        """Run the handler, with this attempt's fault if one is drawn."""
        fault = self._faults.draw(task.workflow_id, task.task_id, task.attempt, task.replica)
        if fault == "raise":
            msg = f"injected failure in {task.task_id} attempt {task.attempt}"
            raise TaskError(msg, retryable=True)
        if fault == "crash":
            msg = f"injected crash in {task.task_id} attempt {task.attempt}"
            raise RuntimeError(msg)
        if fault == "hang":
            deadline = time.monotonic() + self._faults.hang_seconds
            while not self._release.is_set() and time.monotonic() < deadline:
                if task.cancellation.wait(0.05):
                    task.cancellation.raise_if_cancelled()
        elif fault == "stuck":
            self._release.wait(self._faults.hang_seconds)
        elif fault == "slow":
            self._release.wait(self._faults.slow_seconds)
        elif fault == "wrong_output":
            return object()
        result = self._handler(task)
        if fault == "crash_after":
            msg = f"injected crash after {task.task_id} attempt {task.attempt} did its work"
            raise RuntimeError(msg)
        return result
