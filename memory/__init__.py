"""memory: what lasts — agents' facts in a store with scopes (SQLite by default).

The event log and resuming workflows after the process died are still to come.
"""

import logging

from ._errors import ConfigurationError as ConfigurationError
from ._errors import MemoryStoreError as MemoryStoreError
from ._errors import StoreFileError as StoreFileError
from ._in_memory import InMemoryStore as InMemoryStore
from ._record import Record as Record
from ._record import Scope as Scope
from ._record import tokens as tokens
from ._sqlite import SQLiteStore as SQLiteStore
from ._store import MemoryStore as MemoryStore

__all__ = [
    "ConfigurationError",
    "InMemoryStore",
    "MemoryStore",
    "MemoryStoreError",
    "Record",
    "SQLiteStore",
    "Scope",
    "StoreFileError",
    "tokens",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
