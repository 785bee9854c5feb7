"""bus: typed events and their delivery between actors.

Events are frozen pydantic models sharing one envelope; :class:`EventBus` routes them
by type and recipient into actor mailboxes, through an address book (the seam a
transport implements, :class:`bus.lowlevel.AddressBook`), with dead letters for what
cannot be delivered, and OpenTelemetry messaging spans for every hop.

``bus`` is the lowest floor: it imports neither ``memory`` nor ``actors``. Its
low-level API (the address book, envelopes, the wire format) is in ``bus.lowlevel``.
"""

import logging
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from actorchestra._shadowing import ShadowedPackageError as ShadowedPackageError

from ._any_event import AnyEvent as AnyEvent
from ._bus import BusStatistics as BusStatistics
from ._bus import EventBus as EventBus
from ._contract_net_events import Award as Award
from ._contract_net_events import Bid as Bid
from ._contract_net_events import CallForProposals as CallForProposals
from ._errors import ActorchestraError as ActorchestraError
from ._errors import BusClosedError as BusClosedError
from ._errors import BusError as BusError
from ._errors import ConfigurationError as ConfigurationError
from ._errors import EventValidationError as EventValidationError
from ._errors import OperationalError as OperationalError
from ._errors import UsageError as UsageError
from ._event import DeadLetter as DeadLetter
from ._event import Event as Event
from ._event import event_class as event_class
from ._external_event import ExternalEvent as ExternalEvent
from ._failure_kind import FailureKind as FailureKind
from ._membership_events import AgentJoined as AgentJoined
from ._membership_events import AgentLeft as AgentLeft
from ._optional import nats_attribute
from ._parse import EVENT_SCHEMA_VERSION as EVENT_SCHEMA_VERSION
from ._parse import parse_event as parse_event
from ._subscription import Subscription as Subscription
from ._supervision_events import ActorTerminated as ActorTerminated
from ._supervision_events import ChildCrashed as ChildCrashed
from ._supervision_events import ChildRestarted as ChildRestarted
from ._supervision_events import ChildStarted as ChildStarted
from ._supervision_events import SupervisorEscalated as SupervisorEscalated
from ._task_events import ApprovalDecided as ApprovalDecided
from ._task_events import ApprovalRequested as ApprovalRequested
from ._task_events import CancelRequested as CancelRequested
from ._task_events import EventRejected as EventRejected
from ._task_events import Handoff as Handoff
from ._task_events import TaskCompleted as TaskCompleted
from ._task_events import TaskFailed as TaskFailed
from ._task_events import TaskFinished as TaskFinished
from ._task_events import TaskProgress as TaskProgress
from ._task_events import TaskStarted as TaskStarted
from ._telemetry import Telemetry as Telemetry
from ._token_usage import TokenUsage as TokenUsage
from ._workflow_events import TriggerFailed as TriggerFailed
from ._workflow_events import WorkflowFinished as WorkflowFinished
from ._workflow_events import WorkflowResumed as WorkflowResumed
from ._workflow_events import WorkflowStarted as WorkflowStarted

try:
    __version__ = version("actorchestra")
    """The installed distribution's version (``importlib.metadata``)."""
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "EVENT_SCHEMA_VERSION",
    "ActorTerminated",
    "ActorchestraError",
    "AgentJoined",
    "AgentLeft",
    "AnyEvent",
    "ApprovalDecided",
    "ApprovalRequested",
    "Award",
    "Bid",
    "BusClosedError",
    "BusError",
    "BusStatistics",
    "CallForProposals",
    "CancelRequested",
    "ChildCrashed",
    "ChildRestarted",
    "ChildStarted",
    "ConfigurationError",
    "DeadLetter",
    "Event",
    "EventBus",
    "EventRejected",
    "EventValidationError",
    "ExternalEvent",
    "FailureKind",
    "Handoff",
    "NatsTransport",
    "OperationalError",
    "PoolStatistics",
    "Subscription",
    "SupervisorEscalated",
    "TaskCompleted",
    "TaskFailed",
    "TaskFinished",
    "TaskProgress",
    "TaskStarted",
    "Telemetry",
    "TokenUsage",
    "TransportError",
    "TransportStatistics",
    "TriggerFailed",
    "UsageError",
    "WorkflowFinished",
    "WorkflowResumed",
    "WorkflowStarted",
    "event_class",
    "parse_event",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from ._nats_transport import NatsTransport as NatsTransport
    from ._nats_transport import PoolStatistics as PoolStatistics
    from ._nats_transport import TransportError as TransportError
    from ._nats_transport import TransportStatistics as TransportStatistics

_NATS = frozenset({"NatsTransport", "PoolStatistics", "TransportError", "TransportStatistics"})


def __getattr__(name: str) -> object:
    # The NATS transport needs nats-py (the [nats] extra); importing bus does not.
    return nats_attribute(globals(), "._nats_transport", _NATS, name)
