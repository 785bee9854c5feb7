"""Idempotency keys: what makes one tool call the same call across retries and resumes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from pydantic import JsonValue

from memory import IdempotencyStore, InMemoryIdempotencyStore, SideEffectBusyError

from ._errors import TaskError

__all__ = ["DEFAULT_IDEMPOTENCY", "canonical_json", "idempotency_key", "run_side_effect"]

DEFAULT_IDEMPOTENCY = InMemoryIdempotencyStore()
"""Process-wide store for agents given none: it outlives restarts, not the process."""


def idempotency_key(workflow_id: str, task_id: str, tool: str, arguments: str) -> str:
    """The key of one tool call: workflow, task, tool and a digest of its arguments.

    The same call in a retried attempt, after the agent restarted, or in a workflow
    resumed by another process has the same key; ``arguments`` should be canonical JSON
    (sorted keys, no spaces), as :meth:`actors.Tool.invoke` makes it. The stores in
    :mod:`memory` keep results by this key (:class:`memory.IdempotencyStore`).
    """
    digest = hashlib.sha256(arguments.encode()).hexdigest()[:32]
    return f"{workflow_id}/{task_id}/{tool}/{digest}"


def canonical_json(value: JsonValue) -> str:
    """``value`` as JSON with sorted keys and no spaces: equal values, equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def run_side_effect(
    store: IdempotencyStore, key: str, call: Callable[[], str], timeout: float
) -> str:
    """``store.run_once``, with a busy key reported as a retryable :class:`TaskError`."""
    try:
        return store.run_once(key, call, timeout)
    except SideEffectBusyError as exc:
        raise TaskError(str(exc), retryable=True) from exc
