"""AnyEvent: the union of every built-in event type, discriminated on ``type``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ._contract_net_events import Award, Bid, CallForProposals
from ._event import DeadLetter
from ._external_event import ExternalEvent
from ._membership_events import AgentJoined, AgentLeft
from ._supervision_events import (
    ActorTerminated,
    ChildCrashed,
    ChildRestarted,
    ChildStarted,
    SupervisorEscalated,
)
from ._task_events import (
    ApprovalDecided,
    ApprovalRequested,
    CancelRequested,
    EventRejected,
    Handoff,
    TaskCompleted,
    TaskFailed,
    TaskFinished,
    TaskProgress,
    TaskStarted,
)
from ._workflow_events import TriggerFailed, WorkflowFinished, WorkflowResumed, WorkflowStarted

__all__ = ["AnyEvent"]

AnyEvent = Annotated[
    TaskStarted
    | CancelRequested
    | CallForProposals
    | Bid
    | Award
    | TaskProgress
    | ApprovalRequested
    | ApprovalDecided
    | EventRejected
    | WorkflowStarted
    | TaskFinished
    | WorkflowFinished
    | WorkflowResumed
    | TriggerFailed
    | ActorTerminated
    | TaskCompleted
    | TaskFailed
    | Handoff
    | DeadLetter
    | ChildStarted
    | ChildCrashed
    | ChildRestarted
    | SupervisorEscalated
    | AgentJoined
    | AgentLeft
    | ExternalEvent,
    Field(discriminator="type"),
]
"""Union of every event type, discriminated on ``type``."""
