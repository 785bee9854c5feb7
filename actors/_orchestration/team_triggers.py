"""A team's triggers: a workflow started for each event of a type (see :class:`Trigger`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

import pykka

from actors._errors import ConfigurationError
from actors._supervision.supervisor import Supervisor
from bus import Event, EventBus

from .plan import Plan
from .triggers import Trigger, start_trigger
from .workflow_future import WorkflowFuture

__all__ = ["TeamTriggers"]

E = TypeVar("E", bound=Event)


class TeamTriggers:
    """:meth:`on`, for :class:`Team`."""

    name: str
    bus: EventBus
    supervisor: pykka.ActorRef[Supervisor]
    _triggers: dict[str, Trigger[Event]]

    def submit(
        self, plan: Plan, *, workflow_id: str | None = None, name: str = "workflow",
        causation_id: str = "",
    ) -> WorkflowFuture:  # fmt: skip
        raise NotImplementedError  # Team's

    def on(
        self,
        event_type: type[E],
        plan_factory: Callable[[E], Plan],
        *,
        where: Callable[[E], bool] | None = None,
        key: Callable[[E], str] | None = None,
        name: str | None = None,
    ) -> Trigger[E]:
        """Start a workflow for each published ``event_type`` event, at most once per key.

        Any :class:`bus.Event` subclass works, users' own types included. How keys
        deduplicate across restarts, how the event is the workflow's cause, and how a
        failure is reported: see :class:`Trigger`.

        Args:
            event_type: The event type (its subclasses too).
            plan_factory: Makes the plan from the event. Runs in the trigger's actor
                thread, never the publisher's; it may block (later events wait) and
                may raise (reported, as above).
            where: Only events for which this returns true; runs in the publisher's
                thread, so it must be quick and must not block.
            key: The event's deduplication key; ``None`` uses the event's ``id`` (the
                same event is never started twice). Runs where ``plan_factory`` does.
            name: The trigger's name: its workflows' name and the scope of its keys,
                so keep it stable across restarts; ``None`` uses ``event_type``'s
                ``type`` (e.g. ``"acme.ticket_opened"``).

        Returns:
            The trigger: :meth:`~Trigger.remove` it to stop, ask its
            :meth:`~Trigger.statistics`, or :meth:`~Trigger.wait_idle`.

        Raises:
            ConfigurationError: This team has a trigger of that name already, or the
                team is stopped.
        """
        if name is None:
            name = str(event_type.model_fields["type"].default)
        if name in self._triggers:
            msg = f"Team {self.name!r} has a trigger named {name!r} already; give this one name=."
            raise ConfigurationError(msg)

        def start_plan(plan: Plan, workflow_id: str, name: str, cause: str) -> None:
            self.submit(plan, workflow_id=workflow_id, name=name, causation_id=cause)

        trigger = start_trigger(
            self.supervisor,
            self.bus,
            event_type,
            plan_factory,
            where=where,
            key=key,
            name=name,
            actor_name=f"{self.name}.trigger.{name}",
            submit=start_plan,
            on_remove=lambda: self._triggers.pop(name, None),
        )
        self._triggers[name] = cast("Trigger[Event]", trigger)
        return trigger
