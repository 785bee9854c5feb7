"""Why a task attempt or a task failed: a small closed set, the ``error.type`` of metrics."""

from __future__ import annotations

import enum

__all__ = ["FailureKind"]


class FailureKind(enum.StrEnum):
    """The kind of a failure, carried beside its message in results, events and metrics.

    A closed, documented, low-cardinality set (OpenTelemetry semantic conventions,
    ``error.type``: "SHOULD be predictable and SHOULD have low cardinality"). The kinds of
    a failed *attempt* — ``error``, ``crash``, ``timeout``, ``undeliverable``,
    ``handoff``, ``no_consensus`` — are the ``error.type`` of
    ``actorchestra.tasks.failed`` and of a workflow span's ``retry`` events; every kind
    can end a *task* (``TaskResult``, ``TaskFinished``). The exception class, where
    there is one, stays in the message and on the agent's span (``exception.type``).

    * ``error`` — the agent reported the attempt failed (``TaskFailed``: its handler
      raised, or its output was unusable).
    * ``crash`` — the agent's actor crashed during the attempt (``ChildCrashed``).
    * ``timeout`` — no outcome within the attempt's timeout.
    * ``undeliverable`` — the ``TaskStarted`` became a dead letter.
    * ``handoff`` — an undeclared handoff, or the handoff chain grew past its limit.
    * ``rejected`` — the task's approval gate was rejected.
    * ``approval_timeout`` — no approval decision came in time.
    * ``cancelled`` — cancelled: by request, a dependency that did not complete, the
      workflow's step limit, or the team stopping.
    * ``orchestrator`` — the orchestrator could not handle the workflow's data (or a
      vote's reducer raised).
    * ``no_consensus`` — a replicated attempt's vote was not decided: fewer replicas
      completed than its quorum, or their results did not agree enough.

    Example:
        >>> FailureKind("timeout") is FailureKind.TIMEOUT
        True
        >>> f"{FailureKind.CRASH}"
        'crash'
    """

    ERROR = "error"
    CRASH = "crash"
    TIMEOUT = "timeout"
    UNDELIVERABLE = "undeliverable"
    HANDOFF = "handoff"
    REJECTED = "rejected"
    APPROVAL_TIMEOUT = "approval_timeout"
    CANCELLED = "cancelled"
    ORCHESTRATOR = "orchestrator"
    NO_CONSENSUS = "no_consensus"
