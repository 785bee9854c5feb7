"""The store interface every memory backend implements."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import JsonValue

from ._errors import ConfigurationError
from ._record import Record, Scope, tokens

__all__ = ["Match", "MemoryStore", "check_names", "check_retention", "rank"]

Match = Literal["all", "any"]


class MemoryStore(Protocol):
    """Where agents keep what they learned; thread-safe, called from any actor's thread.

    Namespaces and keys are non-empty strings. Every method may raise
    :class:`MemoryStoreError` (e.g. :class:`ConfigurationError` for an empty key).
    """

    def put(
        self, namespace: str, key: str, value: JsonValue, *, scope: Scope = Scope.LONG_TERM
    ) -> Record:
        """Write ``value`` under ``namespace``/``key``, replacing what was there."""
        ...

    def get(self, namespace: str, key: str) -> Record | None:
        """The record, or ``None``."""
        ...

    def delete(self, namespace: str, key: str) -> bool:
        """Remove the record; whether there was one."""
        ...

    def records(self, namespace: str) -> list[Record]:
        """Every record of ``namespace``, newest first."""
        ...

    def search(
        self, namespace: str, query: str, limit: int = 10, *, match: Match = "all"
    ) -> list[Record]:
        """Records of ``namespace`` matching the tokens of ``query`` (see ``tokens``).

        With ``match="all"`` a record must hold every token, and the newest come first;
        with ``match="any"`` (recall for a task's description) one token suffices, and
        records holding more distinct query tokens come first, then the newest. At most
        ``limit`` records; an empty query matches nothing.
        """
        ...

    def discard(self, namespace: str) -> int:
        """Drop the short-term records of ``namespace`` (a workflow ended); how many."""
        ...

    def retain(self, *, max_records: int | None = None, max_age: float | None = None) -> int:
        """Apply a retention policy to long-term records; how many were removed.

        Args:
            max_records: Keep at most this many, the most recently written.
            max_age: Drop records not written for this many seconds.
        """
        ...

    def close(self) -> None:
        """Release files and connections; later calls raise."""
        ...


def check_names(namespace: str, key: str | None = None) -> None:
    """Raise :class:`ConfigurationError` for an empty namespace or key."""
    if not namespace:
        msg = "A memory namespace must not be empty; use e.g. the agent's name."
        raise ConfigurationError(msg)
    if key is not None and not key:
        msg = f"A memory key in namespace {namespace!r} must not be empty."
        raise ConfigurationError(msg)


def check_retention(max_records: int | None, max_age: float | None) -> None:
    """Raise :class:`ConfigurationError` for a negative bound."""
    if (max_records is not None and max_records < 0) or (max_age is not None and max_age < 0):
        msg = f"Retention max_records={max_records}, max_age={max_age} must not be negative."
        raise ConfigurationError(msg)


def rank(records: list[Record], wanted: set[str], match: Match, limit: int) -> list[Record]:
    """The search result from ``records`` (newest first) for the query tokens ``wanted``."""
    if match == "all":
        return [r for r in records if wanted <= set(tokens(r.text))][:limit]
    hits = [(len(wanted & set(tokens(r.text))), i, r) for i, r in enumerate(records)]
    hits.sort(key=lambda h: (-h[0], h[1]))
    return [r for n, _, r in hits if n][:limit]
