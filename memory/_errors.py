"""Errors raised by :mod:`memory`."""

from __future__ import annotations

from bus import ActorchestraError, OperationalError, UsageError

__all__ = ["ConfigurationError", "MemoryStoreError", "StoreFileError"]


class MemoryStoreError(ActorchestraError):
    """Base class of every error raised by :mod:`memory` (not the builtin ``MemoryError``)."""


class ConfigurationError(MemoryStoreError, UsageError):
    """A usage mistake: an empty namespace or key, a bad retention rule."""


class StoreFileError(MemoryStoreError, OperationalError):
    """The store's file is not ours: corrupted, another program's, or of a newer schema.

    Attributes:
        path: The file.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path
