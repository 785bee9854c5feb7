"""The circuit breaker: when to stop sending work to a failing agent, and when to probe."""

from __future__ import annotations

from dataclasses import dataclass

from actors._errors import ConfigurationError

__all__ = ["AgentHealth", "CircuitBreaker"]


@dataclass(frozen=True, slots=True)
class CircuitBreaker:
    """When to stop sending work to a failing agent (the circuit-breaker pattern).

    After ``failures`` consecutive failed attempts (failed, crashed or timed out) an agent's
    circuit opens: for ``reset_after`` seconds its work goes to another agent with the same
    capability, if there is one. Then one attempt goes to it as a probe (half-open): a
    success closes the circuit, a failure opens it again.

    Attributes:
        failures: Consecutive failures that open the circuit (>= 1).
        reset_after: Seconds the circuit stays open before a probe (> 0).

    Raises:
        ConfigurationError: A bound is out of range.
    """

    failures: int = 5
    reset_after: float = 30.0

    def __post_init__(self) -> None:
        if self.failures < 1 or self.reset_after <= 0:
            msg = (
                f"CircuitBreaker(failures={self.failures}, reset_after={self.reset_after}) "
                "is invalid; use failures >= 1 and reset_after > 0."
            )
            raise ConfigurationError(msg)


@dataclass(slots=True)
class AgentHealth:
    """One agent's load and circuit: closed, open since ``opened_at``, or half-open.

    Attributes:
        in_flight: Attempts sent to the agent and not yet ended.
        stuck: Attempts given up on (timed out, cancelled) that have not come back.
        consecutive_failures: Failed attempts since its last success.
        opened_at: Monotonic seconds when its circuit opened; ``None`` while closed.
        probing: Whether the one half-open probe attempt is out.
    """

    in_flight: int = 0
    stuck: int = 0
    consecutive_failures: int = 0
    opened_at: float | None = None
    probing: bool = False

    def is_open(self, now: float, rule: CircuitBreaker) -> bool:
        """Whether the circuit is open at ``now`` (not counting a due probe)."""
        return self.opened_at is not None and not self.probe_due(now, rule)

    def probe_due(self, now: float, rule: CircuitBreaker) -> bool:
        """Whether the circuit is open and its ``reset_after`` has passed with no probe out."""
        opened = self.opened_at
        return opened is not None and not self.probing and now - opened >= rule.reset_after

    def record(self, *, ok: bool, now: float, rule: CircuitBreaker) -> None:
        """An attempt succeeded (closes the circuit) or failed (may open it at ``now``)."""
        if ok:
            self.consecutive_failures = 0
            self.opened_at = None
            self.probing = False
            return
        self.consecutive_failures += 1
        if self.probing or self.consecutive_failures >= rule.failures:
            self.opened_at = now
            self.probing = False
