"""Triggers: a workflow started for each matching bus event, at most once per key.

A :class:`Trigger` is made by :meth:`actors.Team.on`. Its events reach a trigger actor
(a child of the team's root supervisor) through an ordinary bus subscription, so the
publisher's thread only runs ``where=`` and a ``tell``: the key function, the plan
factory and the plan's check run in the trigger actor's thread, which then submits
the plan to the orchestrator (a ``tell``).

Deduplication: the workflow id is derived from the trigger's name and the event's key
(:func:`trigger_workflow_id`, a SHA-256), so the event log's record of that workflow is
the memory of the key. A trigger remembers the keys it started in this process, and,
when the team's bus has a readable :class:`memory.EventLog`, starts from every workflow
id the log already holds: after a restart, replayed events start nothing again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import pydantic
import pykka

from actors._actor import Actor
from actors._errors import ConfigurationError
from actors._supervision.child_spec import ChildSpec
from actors._supervision.supervisor import Supervisor
from bus import Event, EventBus, Subscription, TriggerFailed
from bus._errors import error_text
from memory import EventLog

from .plan import Plan

__all__ = [
    "Trigger",
    "TriggerActor",
    "TriggerStatistics",
    "start_trigger",
    "trigger_workflow_id",
]

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)

WORKFLOW_ID_PREFIX = "trigger-"
"""Every workflow a trigger starts has an id with this prefix."""


def trigger_workflow_id(trigger: str, key: str) -> str:
    """The id of the workflow that trigger ``trigger`` starts for ``key``.

    Deterministic (the first 32 hex digits of the SHA-256 of ``[trigger, key]`` as
    JSON), so the same key maps to the same workflow in every process and run.

    Example:
        >>> trigger_workflow_id("tickets", "T-1") == trigger_workflow_id("tickets", "T-1")
        True
        >>> trigger_workflow_id("tickets", "T-1").startswith("trigger-")
        True
    """
    digest = hashlib.sha256(json.dumps([trigger, key]).encode()).hexdigest()
    return f"{WORKFLOW_ID_PREFIX}{digest[:32]}"


@dataclass(frozen=True, slots=True)
class TriggerStatistics:
    """A trigger's counters, as :meth:`Trigger.statistics` reports them.

    Attributes:
        matched: Events the trigger took (that passed ``where=``).
        started: Workflows it started.
        duplicates: Events whose key had already started a workflow (here, or in the
            event log): nothing started.
        failed: Events it could not start a workflow for (each one a
            :class:`bus.TriggerFailed`).
    """

    matched: int
    started: int
    duplicates: int
    failed: int


Submitter = Callable[[Plan, str, str, str], object]
"""Starts a plan: ``(plan, workflow_id, name, causation_id)``; raises if it is invalid."""


class Trigger(Generic[E]):
    """Starts a workflow for each matching event, at most one per key; see :meth:`Team.on`.

    The workflow's id is derived from ``name`` and the key
    (:func:`~actors.lowlevel.trigger_workflow_id`), so a key never starts two
    workflows: not in this process, and, when the bus has a readable
    :class:`memory.EventLog` (``EventBus(event_log=SQLiteEventLog(...))``), not
    after a restart either (the log's workflow ids are read here, once). The event
    is the workflow's cause: ``WorkflowStarted.causation_id`` is its id, and the
    workflow span is a child of its ``process`` span, itself a child of its
    ``publish`` span. An event the trigger cannot start a workflow for (``key``
    or ``plan_factory`` raised, or the plan is invalid) is logged at ERROR and
    published as :class:`bus.TriggerFailed`; later events still trigger, and
    the key stays free.

    Attributes:
        name: The trigger's name: its workflows' name and the scope of its keys.
        event_type: The event type it listens to (subclasses included).
    """

    def __init__(
        self,
        *,
        name: str,
        event_type: type[E],
        plan_factory: Callable[[E], Plan],
        key: Callable[[E], str] | None,
        submit: Submitter,
        bus: EventBus,
        actor_name: str,
        started: set[str],
    ) -> None:
        self.name = name
        self.event_type = event_type
        self._plan_factory = plan_factory
        self._key = key
        self._submit = submit
        self._bus = bus
        self._actor_name = actor_name
        self._started = started
        self._counts = [0, 0, 0, 0]  # matched, started, duplicates, failed
        self._subscription: Subscription | None = None
        self._on_remove: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def statistics(self) -> TriggerStatistics:
        """A frozen snapshot of the trigger's counters."""
        return TriggerStatistics(*self._counts)

    def wait_idle(self, timeout: float | None = 10.0) -> None:
        """Wait until every event published before the call has been handled.

        Handled means its workflow was submitted to the orchestrator (not finished),
        or found a duplicate, or reported as failed. A removed trigger is idle.

        Raises:
            TimeoutError: Not idle within ``timeout`` seconds (``None``: no limit).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._subscription is not None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ref = self._bus.lookup(self._actor_name)
            if ref is not None:
                with contextlib.suppress(pykka.ActorDeadError):
                    try:
                        ref.ask(_IDLE, timeout=left)
                    except pykka.Timeout:
                        break
                    return
            if left is not None and left <= 0:
                break
            time.sleep(0.01)  # the trigger actor is restarting
        else:
            return  # removed
        msg = f"Trigger {self.name!r} was not idle within {timeout} s; its events are still queued."
        raise TimeoutError(msg)

    def remove(self) -> None:
        """Stop the trigger: later events start nothing. Removing it twice does nothing.

        Events already taken (in the trigger actor's mailbox) are still handled first.
        """
        with self._lock:
            subscription, self._subscription = self._subscription, None
            on_remove, self._on_remove = self._on_remove, None
        if subscription is not None:
            self._bus.unsubscribe(subscription)
        if on_remove is not None:
            on_remove()

    def _attach(self, subscription: Subscription, on_remove: Callable[[], None]) -> None:
        self._subscription, self._on_remove = subscription, on_remove

    def _fire(self, event: E) -> None:
        """Start the workflow for ``event`` unless its key has one. In the trigger actor."""
        counts = self._counts
        counts[0] += 1
        key = ""
        workflow_id = ""
        try:
            found = event.id if self._key is None else self._key(event)
            if not isinstance(found, str):
                msg = f"The key function returned a {type(found).__name__}; it must return a str."
                raise TypeError(msg)
            key = found
            workflow_id = trigger_workflow_id(self.name, key)
            if workflow_id in self._started:
                counts[2] += 1
                return
            plan = self._plan_factory(event)
            if not isinstance(plan, Plan):
                msg = f"The plan factory returned a {type(plan).__name__}; it must return a Plan."
                raise TypeError(msg)
            self._started.add(workflow_id)  # before submitting: a key never starts twice
            try:
                self._submit(plan, workflow_id, self.name, event.id)
            except BaseException:
                self._started.discard(workflow_id)
                raise
        except Exception as exc:  # the trigger goes on with later events
            counts[3] += 1
            self._report(event, key, workflow_id, exc)
            return
        counts[1] += 1

    def _report(self, event: Event, key: str, workflow_id: str, exc: Exception) -> None:
        text = error_text(exc)
        logger.error(
            "Trigger %r could not start a workflow for event %s (%s); it goes on",
            self.name,
            event.id,
            type(exc).__name__,
            exc_info=None if isinstance(exc, pydantic.ValidationError) else exc,
        )
        self._bus.publish(
            TriggerFailed(
                source=self._actor_name,
                workflow_id=workflow_id,
                causation_id=event.id,
                trigger=self.name,
                key=key,
                error_type=type(exc).__name__,
                message=text,
            )
        )


class _Idle:
    """Asked of a trigger actor: answered once every earlier event was handled."""


_IDLE = _Idle()


class TriggerActor(Actor):
    """The actor a :class:`Trigger`'s events are delivered to (one per trigger).

    Args:
        name: Its name on the bus.
        bus: The bus.
        trigger: The trigger whose events it handles.
    """

    def __init__(self, *, name: str, bus: EventBus, trigger: Trigger[Any]) -> None:
        super().__init__(name=name, bus=bus)
        self._trigger = trigger

    def on_event(self, event: Event) -> None:
        """Start the event's workflow (see :class:`Trigger`). Runs in this actor's thread."""
        self._trigger._fire(event)

    def on_message(self, message: Any) -> Any:  # noqa: ANN401
        """Answer :meth:`Trigger.wait_idle`."""
        if isinstance(message, _Idle):
            return True
        return super().on_message(message)


def start_trigger(
    supervisor: pykka.ActorRef[Supervisor],
    bus: EventBus,
    event_type: type[E],
    plan_factory: Callable[[E], Plan],
    *,
    where: Callable[[E], bool] | None,
    key: Callable[[E], str] | None,
    name: str,
    actor_name: str,
    submit: Submitter,
    on_remove: Callable[[], object],
) -> Trigger[E]:
    """Start a trigger's actor under ``supervisor``, then subscribe it (see :meth:`Team.on`).

    Raises:
        ConfigurationError: ``supervisor`` is stopped.
    """
    log = bus.event_log
    started = set()
    if isinstance(log, EventLog):  # the log's workflow ids: the keys started before
        started = {w.id for w in log.workflows() if w.id.startswith(WORKFLOW_ID_PREFIX)}
    trigger = Trigger(
        name=name,
        event_type=event_type,
        plan_factory=plan_factory,
        key=key,
        submit=submit,
        bus=bus,
        actor_name=actor_name,
        started=started,
    )
    erased = cast("Trigger[Any]", trigger)
    spec = ChildSpec(
        id=actor_name, start=lambda: TriggerActor.start(name=actor_name, bus=bus, trigger=erased)
    )
    try:
        Supervisor.start_child(supervisor, spec)
    except pykka.ActorDeadError as exc:
        msg = f"Cannot add trigger {name!r}: its team is stopped."
        raise ConfigurationError(msg) from exc
    subscription = bus.subscribe(event_type, actor_name, where=where)

    def remove() -> None:
        on_remove()
        with contextlib.suppress(pykka.ActorDeadError, ConfigurationError):
            Supervisor.terminate_child(supervisor, actor_name)

    trigger._attach(subscription, remove)
    return trigger
