"""Errors raised by :mod:`memory`."""

from __future__ import annotations

__all__ = ["MemoryStoreError"]


class MemoryStoreError(Exception):
    """Base class of every error raised by :mod:`memory` (not the builtin ``MemoryError``)."""
