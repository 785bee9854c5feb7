"""The orchestrator's settings as two values: how it retries, and how far it lets work go."""

from __future__ import annotations

from dataclasses import dataclass, field

from actors._backoff import Backoff
from actors._errors import ConfigurationError

from .budget import Budget
from .circuit_breaker import CircuitBreaker

__all__ = ["DEFAULT_RETRY_BACKOFF", "Limits", "RetryPolicy"]

DEFAULT_RETRY_BACKOFF = Backoff(minimum=0.1, maximum=10.0, jitter=0.5)
"""Retries wait 0.1, 0.2, 0.4 … s (at most 10 s), each up to 50 % longer at random."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """What happens after a failed attempt: when the next one starts, and where.

    A task is attempted at most ``Task.max_attempts`` times; this says how the attempts
    after the first are spaced and routed.

    Attributes:
        backoff: Delay before each retry (``backoff.delay(n)`` seconds before the
            (n+1)-th attempt); ``None`` retries at once.
        circuit_breaker: When a failing agent's work goes to another agent with the same
            capability (see :class:`CircuitBreaker`); 5 failures, 30 s by default.

    Example:
        >>> RetryPolicy(backoff=None).backoff is None
        True
    """

    backoff: Backoff | None = DEFAULT_RETRY_BACKOFF
    circuit_breaker: CircuitBreaker = field(default_factory=CircuitBreaker)


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds every workflow runs under, so none runs away.

    Attributes:
        task_timeout: Seconds an attempt may run unless its task says otherwise
            (``Task.timeout``); ``None`` for no limit (not advised: a hung agent then
            hangs the workflow). Past it the attempt fails as ``timeout`` and is retried.
        approval_timeout: Seconds a task that needs approval waits for a decision
            before it fails; ``None`` waits as long as the workflow lives.
        max_steps: Most task dispatches (attempts, handoffs, and each replica of a
            replicated attempt) per workflow, its child workflows' included; past it,
            the unfinished tasks are cancelled (the children's too). ``None`` relies on
            the other bounds.
        max_handoffs: Longest handoff chain per task.
        max_in_flight: Attempts sent to one agent and not yet ended, at most (an agent
            runs one at a time; a few more keep it busy). Further ready tasks wait in
            the orchestrator, highest priority first, then in the order they became
            ready, across workflows; an attempt's timeout starts when it is sent. This
            bounds the agents' mailboxes and the timers, so a plan of 30,000 tasks costs
            per task about what a small one does. ``None`` sends every ready task at once.
            The replicas of a replicated attempt go only to agents with room: it runs on
            fewer, or waits until enough have room for its vote.
        budget: The most tokens or dollars one workflow may spend (see :class:`Budget`);
            past it the workflow stops with :class:`BudgetExceeded`. ``None``: no bound.
            A workflow's child workflows (see :class:`actors.Delegate`) spend from it.
        max_delegation_depth: Deepest nesting of child workflows: a workflow submitted
            directly is at depth 0, a child of one of its tasks at 1, and so on; a task
            of a workflow at this depth that delegates fails (not retried). 0 turns
            delegation off.
        max_copies: Most agents one attempt may run on at once (``Redundancy.copies``);
            a plan asking for more is refused (``PlanValidationError``), so a plan a
            model wrote cannot multiply its cost past it. 1 turns redundancy off.

    Raises:
        ConfigurationError: A bound is out of range (also a ``ValueError``).

    Example:
        >>> Limits(task_timeout=30.0).max_in_flight
        4
    """

    task_timeout: float | None = 600.0
    approval_timeout: float | None = 3600.0
    max_steps: int | None = None
    max_handoffs: int = 5
    max_in_flight: int | None = 4
    budget: Budget | None = None
    max_delegation_depth: int = 3
    max_copies: int = 5

    def __post_init__(self) -> None:
        checks = {
            "task_timeout": self.task_timeout is None or self.task_timeout > 0,
            "approval_timeout": self.approval_timeout is None or self.approval_timeout > 0,
            "max_steps": self.max_steps is None or self.max_steps >= 1,
            "max_handoffs": self.max_handoffs >= 0,
            "max_in_flight": self.max_in_flight is None or self.max_in_flight >= 1,
            "max_delegation_depth": self.max_delegation_depth >= 0,
            "max_copies": self.max_copies >= 1,
        }
        problems = [f"{name}={getattr(self, name)}" for name, ok in checks.items() if not ok]
        if problems:
            msg = (
                f"Limits({', '.join(problems)}) is invalid; timeouts must be > 0 seconds or "
                "None, max_steps and max_in_flight >= 1 or None, max_copies >= 1, "
                "max_handoffs and max_delegation_depth >= 0."
            )
            raise ConfigurationError(msg)
