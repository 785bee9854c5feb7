"""Orderly shutdown: children stop in reverse start order, all within one deadline."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import pykka

from .child_spec import ChildSpec
from .messages import StopBy, Terminating

__all__ = ["STOP_SLACK", "stop_budget", "stop_children", "stop_within"]

logger = logging.getLogger(__name__)

STOP_SLACK = 0.5
"""Seconds past the deadline for stopping supervisors to report back."""


def stop_budget(children: Sequence[ChildSpec]) -> float:
    """Seconds a tree of ``children`` may take to stop: their shutdown timeouts, plus 1."""
    return 1.0 + sum(spec.shutdown_timeout for spec in children)


def stop_children(
    supervisor: str,
    children: Sequence[tuple[str, ChildSpec, pykka.ActorRef[Any]]],
    *,
    deadline: float | None,
    terminating: Terminating,
    is_supervisor: Callable[[pykka.ActorRef[Any]], bool],
) -> None:
    """Stop ``children`` (id, spec, ref) in the given order; report those not stopped in time.

    Each gets its ``shutdown_timeout`` seconds, and none more than what is left before
    ``deadline`` (``time.monotonic``), which child supervisors are given too. OTP's
    ``shutdown`` ends with ``brutal_kill``; Python threads cannot be killed, so a child
    still running then is abandoned (one WARNING names them).
    """
    abandoned: list[str] = []
    late: list[tuple[str, pykka.ActorRef[Any]]] = []  # told to stop past the deadline
    for child_id, spec, ref in children:
        terminating.add(ref.actor_urn)
        wait = spec.shutdown_timeout
        if deadline is not None:
            wait = min(wait, deadline - time.monotonic())
            if is_supervisor(ref):
                # It stops its own children by the deadline, then reports back.
                wait = max(0.0, wait) + STOP_SLACK / 2
                with contextlib.suppress(pykka.ActorDeadError):
                    ref.tell(StopBy(deadline))
        try:
            if wait <= 0:  # time is up: the rest are told at once, then waited for
                ref.stop(block=False)
                late.append((child_id, ref))
                continue
            ref.stop(block=True, timeout=wait)
        except pykka.Timeout:
            abandoned.append(child_id)
        except pykka.ActorDeadError:
            terminating.claim(ref.actor_urn)
    grace = time.monotonic() + STOP_SLACK / 2
    for child_id, ref in late:
        if not ref.actor_stopped.wait(max(0.0, grace - time.monotonic())):
            abandoned.append(child_id)
    if abandoned:
        # Python threads cannot be killed: they end when their code returns.
        logger.warning(
            "Supervisor %r abandoned %s that did not stop in time (they ignore "
            "cancellation); their late events are dropped",
            supervisor,
            ", ".join(repr(c) for c in abandoned),
        )


def stop_within(ref: pykka.ActorRef[Any], timeout: float) -> bool:
    """Stop the supervisor at ``ref`` and its whole tree within ``timeout`` seconds.

    Children stop in reverse start order, each within its ``shutdown_timeout`` but
    all within ``timeout`` in total (not per child, in series).

    Returns:
        Whether the supervisor stopped in time.
    """
    deadline = time.monotonic() + timeout
    try:
        ref.tell(StopBy(deadline))
        ref.stop(block=True, timeout=timeout + STOP_SLACK)
    except pykka.ActorDeadError:
        return True
    except pykka.Timeout:
        return False
    return True
