"""The state ``check_protocol`` keeps per workflow, and how it reports a violation."""

from __future__ import annotations

from dataclasses import dataclass, field

from actors._orchestration.plan import Plan
from bus import (
    Award,
    Delegated,
    Event,
    FailureKind,
    Handoff,
    TaskCompleted,
    TaskFailed,
    TaskFinished,
    TaskStarted,
)

__all__ = ["_NEEDED", "ProtocolViolation", "_Run", "_fail"]


class ProtocolViolation(AssertionError):  # noqa: N818 - it is an assertion, named as the rule
    """A recorded event stream breaks a protocol invariant; the message says which, and where.

    Attributes:
        workflow_id: The workflow.
        task_id: The offending task (``""`` if the workflow as a whole).
    """

    def __init__(self, message: str, *, workflow_id: str, task_id: str = "") -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.task_id = task_id


# The outcome events one of which a task's end needs, by its status or failure kind
# (a replica that delegated failed its attempt: kind error).
_NEEDED: dict[str, tuple[str, ...]] = {
    "completed": ("TaskCompleted",),
    FailureKind.ERROR: ("TaskFailed", "Delegated"),
    FailureKind.HANDOFF: ("Handoff",),
}


@dataclass
class _Run:
    plan: Plan
    agents: frozenset[str]
    orchestrator: str  # WorkflowStarted.source: the only publisher of decisions
    finished: dict[str, TaskFinished] = field(default_factory=dict)
    latest: dict[str, TaskStarted] = field(default_factory=dict)  # each task's last dispatch
    issued: dict[str, str] = field(default_factory=dict)  # token -> "task/attempt"
    answered: set[tuple[str, str]] = field(default_factory=set)  # (class, token) of outcomes
    outcomes: dict[str, TaskCompleted | TaskFailed | Handoff | Delegated] = field(
        default_factory=dict
    )
    approved: set[str] = field(default_factory=set)
    carried: frozenset[str] = frozenset()  # completed in the workflow it re-plans
    done: bool = False
    calls: dict[str, str] = field(default_factory=dict)  # cfp_id -> "task/attempt"
    offers: set[tuple[str, str]] = field(default_factory=set)  # (cfp_id, agent) that bid
    awards: dict[str, Award] = field(default_factory=dict)  # "task/attempt" -> its award
    sent: set[str] = field(default_factory=set)  # "task/attempt" awarded and started
    status: str = ""  # WorkflowFinished.status
    children: dict[str, list[_Run]] = field(default_factory=dict)  # by delegating task
    # each replicated task's replicas of its latest attempt: token -> TaskStarted
    replicas: dict[str, dict[str, TaskStarted]] = field(default_factory=dict)
    given_up: set[str] = field(default_factory=set)  # tokens of a CancelRequested
    lost: set[str] = field(default_factory=set)  # tokens of a crash or a dead letter


def _fail(event: Event, message: str) -> ProtocolViolation:
    return ProtocolViolation(message, workflow_id=event.workflow_id, task_id=event.task_id)
