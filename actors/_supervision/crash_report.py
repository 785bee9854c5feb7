"""A child's crash, reported: a ``crash`` span in the trace it happened in, and ``ChildCrashed``."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from opentelemetry import trace

from actors._link import ActorExit
from bus import ChildCrashed, Event, EventBus, TaskStarted
from bus._errors import error_text
from bus._tracing import record_failure

__all__ = ["report_failed_start", "reporting_crash"]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def reporting_crash(
    bus: EventBus, tracer: trace.Tracer, supervisor: str, child_id: str, exit_: ActorExit
) -> Iterator[None]:
    """Report child ``child_id``'s crash (``exit_.reason`` is set) on ``bus``, then yield.

    The ``crash {child}`` span continues the trace of the event the child was handling,
    and records the exception (OpenTelemetry ``exception`` event, ``error.type``); it is
    current in the block, so what the supervisor does about the crash (its ``restart``
    events, ``ChildRestarted``) is in that trace too. :class:`bus.ChildCrashed` names
    the event's workflow, task and attempt, so the orchestrator retries the task. The
    message is the error's text, never a pydantic error's quoted input.
    """
    reason = exit_.reason
    assert reason is not None
    with (
        bus.continuing(exit_.in_flight),
        tracer.start_as_current_span(
            f"crash {child_id}",
            attributes={"actorchestra.supervisor": supervisor, "actorchestra.child": child_id},
        ) as span,
    ):
        record_failure(span, reason)
        text = error_text(reason)
        logger.info(
            "Child %r of %r crashed: %s: %s", child_id, supervisor, type(reason).__name__, text
        )
        in_flight = exit_.in_flight.event if exit_.in_flight is not None else None
        bus.publish(_child_crashed(supervisor, child_id, reason, text, in_flight))
        yield


def report_failed_start(bus: EventBus, supervisor: str, child_id: str, exc: Exception) -> None:
    """Report that restarting child ``child_id`` raised ``exc``: a crash, as OTP counts it."""
    text = error_text(exc)
    logger.info("Child %r of %r failed to restart: %s", child_id, supervisor, text)
    bus.publish(_child_crashed(supervisor, child_id, exc, text, None))


def _child_crashed(
    supervisor: str, child_id: str, reason: BaseException, text: str, in_flight: Event | None
) -> ChildCrashed:
    """The ``ChildCrashed`` event, naming the task of the event in flight, if any.

    An attempt in flight (a ``TaskStarted``) lends it its token: the orchestrator takes
    a crash report for an attempt only with the attempt's token, as any outcome.
    """
    return ChildCrashed(
        source=supervisor,
        supervisor=supervisor,
        child=child_id,
        error_type=type(reason).__name__,
        message=text,
        workflow_id=in_flight.workflow_id if in_flight else "",
        task_id=in_flight.task_id if in_flight else "",
        causation_id=in_flight.id if in_flight else "",
        attempt=in_flight.attempt if in_flight else 1,
        attempt_token=in_flight.attempt_token if isinstance(in_flight, TaskStarted) else "",
    )
