"""Idempotency keys: what makes one tool call the same call across retries and resumes."""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from collections.abc import Callable

from actors._errors import TaskError
from actors._json_value import canonical_json
from bus import EventBus
from memory import IdempotencyStore, InMemoryIdempotencyStore, SideEffectBusyError

__all__ = [
    "canonical_json",
    "default_idempotency_store",
    "idempotency_key",
    "legacy_idempotency_key",
    "run_side_effect",
]

_DEFAULT_STORES: weakref.WeakKeyDictionary[EventBus, InMemoryIdempotencyStore] = (
    weakref.WeakKeyDictionary()
)
_DEFAULT_STORES_LOCK = threading.Lock()


def default_idempotency_store(bus: EventBus) -> InMemoryIdempotencyStore:
    """The in-memory store of agents on ``bus`` that were given none.

    One per bus, so one per :class:`actors.Team` (a team's agents and orchestrator share
    one bus, and two teams cannot run on one at once): two teams that reuse a workflow
    id never deduplicate each other's side effects (teams run one after another on the
    same bus do share it). It outlives agent restarts, not the bus.
    """
    with _DEFAULT_STORES_LOCK:
        store = _DEFAULT_STORES.get(bus)
        if store is None:
            store = _DEFAULT_STORES[bus] = InMemoryIdempotencyStore()
        return store


def idempotency_key(workflow_id: str, task_id: str, tool: str, arguments: str) -> str:
    """The key of one tool call: a SHA-256 digest (64 hex digits) of all four parts.

    The parts are encoded together as a JSON array before hashing, an unambiguous
    encoding, so distinct ``(workflow_id, task_id, tool, arguments)`` never share a key,
    whatever characters the ids hold (``/``, quotes, any unicode, empty strings). The
    same call in a retried attempt, after the agent restarted, or in a workflow resumed
    by another process has the same key; ``arguments`` should be canonical JSON (see
    :func:`canonical_json`), as :meth:`actors.Tool.invoke` makes it. The stores in
    :mod:`memory` keep results by this key (:class:`memory.IdempotencyStore`); it is
    short and plain enough to pass on to a service that deduplicates by key.

    Example:
        >>> idempotency_key("w/1", "t", "pay", "{}") == idempotency_key("w", "1/t", "pay", "{}")
        False
        >>> len(idempotency_key("w", "t", "pay", "{}"))
        64
    """
    parts = json.dumps([workflow_id, task_id, tool, arguments], separators=(",", ":"))
    return hashlib.sha256(parts.encode("ascii")).hexdigest()


def legacy_idempotency_key(workflow_id: str, task_id: str, tool: str, arguments: str) -> str:
    """The key actorchestra 0.1.0 stored this call under (ambiguous: ids were joined).

    Looked up only as an alias of :func:`idempotency_key`'s, so a workflow resumed
    across the upgrade finds the effects that release recorded and repeats none.
    """
    digest = hashlib.sha256(arguments.encode()).hexdigest()[:32]
    return f"{workflow_id}/{task_id}/{tool}/{digest}"


def run_side_effect(
    store: IdempotencyStore,
    call: Callable[[str], str],
    timeout: float,
    parts: tuple[str, str, str, str],
) -> str:
    """Run ``call(key)`` through ``store``, once per key of the call ``parts``.

    ``parts`` are the workflow, task, tool and canonical arguments; the key
    :func:`legacy_idempotency_key` made for them is looked up too.

    Raises:
        TaskError: (retryable) The same call is still running in another attempt.
    """
    key = idempotency_key(*parts)
    try:
        return store.run_once(
            key,
            lambda: call(key),
            timeout,
            workflow_id=parts[0],
            aliases=(legacy_idempotency_key(*parts),),
        )
    except SideEffectBusyError as exc:
        raise TaskError(str(exc), retryable=True) from exc
