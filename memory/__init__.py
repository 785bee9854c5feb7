"""memory: what lasts — stores, the event log and checkpoints.

Only the error base exists so far; the SQLite store, event log and resume are issue 6.
"""

import logging

from ._errors import MemoryStoreError as MemoryStoreError

__all__ = ["MemoryStoreError"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
