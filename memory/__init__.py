"""memory: what lasts — agents' facts, the event log, and side effects' results.

* :class:`MemoryStore` (:class:`SQLiteStore`, :class:`InMemoryStore`): facts by
  namespace and key, with scopes, full-text search and retention.
* :class:`EventLog` (:class:`SQLiteEventLog`, :class:`InMemoryEventLog`,
  :class:`JetStreamEventLog`): every bus event in order, by workflow and task; what a
  workflow is resumed from.
* :class:`IdempotencyStore` (:class:`SQLiteIdempotencyStore`,
  :class:`InMemoryIdempotencyStore`, :class:`JetStreamIdempotencyStore`): a side
  effect's result by idempotency key.

The SQLite classes may share one file (stdlib ``sqlite3``, WAL). The JetStream classes
share a :class:`bus.NatsTransport`'s connection, so every process of a team (on any
host) resumes workflows and runs each side effect once; they need nats-py (``pip
install 'actorchestra[nats]'``), imported only when first used. ``memory`` imports
``bus`` (events, the wire format) and never ``actors``.
"""

import logging
from importlib.metadata import PackageNotFoundError, version

from actorchestra._shadowing import check_not_shadowed

check_not_shadowed("bus")  # before anything else of ours is imported
from typing import TYPE_CHECKING

from bus import ActorchestraError as ActorchestraError
from bus import OperationalError as OperationalError
from bus import UsageError as UsageError
from bus.lowlevel import nats_attribute

from ._errors import ConfigurationError as ConfigurationError
from ._errors import MemoryStoreError as MemoryStoreError
from ._errors import StoreFileError as StoreFileError
from ._event_log import EventLog as EventLog
from ._event_log import Retention as Retention
from ._event_log import WorkflowInfo as WorkflowInfo
from ._idempotency_store import IdempotencyStore as IdempotencyStore
from ._idempotency_store import InMemoryIdempotencyStore as InMemoryIdempotencyStore
from ._idempotency_store import SideEffectBusyError as SideEffectBusyError
from ._idempotency_store import SQLiteIdempotencyStore as SQLiteIdempotencyStore
from ._in_memory import InMemoryStore as InMemoryStore
from ._in_memory_event_log import InMemoryEventLog as InMemoryEventLog
from ._record import Record as Record
from ._record import Scope as Scope
from ._record import tokens as tokens
from ._record import workflow_namespace as workflow_namespace
from ._sqlite import SQLiteStore as SQLiteStore
from ._sqlite_event_log import SQLiteEventLog as SQLiteEventLog
from ._store import Match as Match
from ._store import MemoryStore as MemoryStore

try:
    __version__ = version("actorchestra")
    """The installed distribution's version (``importlib.metadata``)."""
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "ActorchestraError",
    "ConfigurationError",
    "EventLog",
    "IdempotencyStore",
    "InMemoryEventLog",
    "InMemoryIdempotencyStore",
    "InMemoryStore",
    "JetStreamEventLog",
    "JetStreamIdempotencyStore",
    "Match",
    "MemoryStore",
    "MemoryStoreError",
    "OperationalError",
    "Record",
    "Retention",
    "SQLiteEventLog",
    "SQLiteIdempotencyStore",
    "SQLiteStore",
    "Scope",
    "SideEffectBusyError",
    "StoreFileError",
    "UsageError",
    "WorkflowInfo",
    "tokens",
    "workflow_namespace",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from ._jetstream import JetStreamEventLog as JetStreamEventLog
    from ._jetstream import JetStreamIdempotencyStore as JetStreamIdempotencyStore

_NATS = frozenset({"JetStreamEventLog", "JetStreamIdempotencyStore"})


def __getattr__(name: str) -> object:
    # The JetStream stores need nats-py (the [nats] extra); importing memory does not.
    return nats_attribute(globals(), "._jetstream", _NATS, name)
