"""A supervisor of instances of one child template, started at run time.

It plays OTP's ``simple_one_for_one`` role (Elixir's ``DynamicSupervisor``): agent pools.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pykka

from actors._errors import ConfigurationError
from bus import EventBus, Telemetry

from .child_spec import ChildSpec
from .restart_strategy import RestartStrategy
from .supervisor import Supervisor

__all__ = ["DynamicSupervisor"]


@dataclass(frozen=True, slots=True)
class _StartInstance:
    child_id: str | None


class DynamicSupervisor(Supervisor):
    """Starts and stops instances of ``template`` on demand; restarts them one_for_one.

    Args:
        name: The supervisor's name; generated instance ids are ``<name>.<n>``.
        bus: The bus.
        template: Builds the child spec of an instance from its id.
        children: Instances to start with, started as a :class:`Supervisor` starts its
            children (they count toward ``max_children``).
        max_children: At most this many instances at once; ``None`` for no limit.
        max_restarts: Restart intensity: restarts allowed within ``period``.
        period: Restart intensity window, in seconds.
        telemetry: Where its ``crash`` spans and restart metrics go; ``None`` uses the
            bus's (``bus.telemetry``).

    Example:
        >>> from actors import Agent, DynamicSupervisor
        >>> from bus import EventBus
        >>> bus = EventBus(tracing=False)
        >>> pool = DynamicSupervisor.start(
        ...     name="pool", bus=bus, template=lambda i: Agent.child_spec(i, bus))
        >>> DynamicSupervisor.start_instance(pool)
        'pool.1'
        >>> _ = pool.stop()
    """

    def __init__(
        self,
        *,
        name: str,
        bus: EventBus,
        template: Callable[[str], ChildSpec],
        children: Sequence[ChildSpec] = (),
        max_children: int | None = None,
        max_restarts: int = 3,
        period: float = 5.0,
        telemetry: Telemetry | None = None,
    ) -> None:
        super().__init__(
            name=name,
            bus=bus,
            children=children,
            strategy=RestartStrategy.ONE_FOR_ONE,
            max_restarts=max_restarts,
            period=period,
            telemetry=telemetry,
        )
        self._template = template
        self._numbers = itertools.count(1)
        self.max_children = max_children

    @staticmethod
    def start_instance(
        ref: pykka.ActorRef[DynamicSupervisor], child_id: str | None = None, timeout: float = 10.0
    ) -> str:
        """Start one more instance; returns its id (stop it with ``terminate_child``).

        Raises:
            ConfigurationError: ``max_children`` instances run already, or the id is taken.
        """
        new_id: str = ref.ask(_StartInstance(child_id), block=True, timeout=timeout)
        return new_id

    def on_message(self, message: Any) -> Any:  # noqa: ANN401
        """Start instances; everything else as :class:`Supervisor`."""
        if isinstance(message, _StartInstance):
            if self.max_children is not None and len(self._children) >= self.max_children:
                msg = (
                    f"DynamicSupervisor {self.name!r} already runs {self.max_children} "
                    "children, its max_children; stop one first."
                )
                raise ConfigurationError(msg)
            child_id = message.child_id or f"{self.name}.{next(self._numbers)}"
            spec = self._template(child_id)
            if spec.id != child_id:
                msg = f"Template of {self.name!r} gave id {spec.id!r} for instance {child_id!r}."
                raise ConfigurationError(msg)
            self._add_child(spec)
            return child_id
        return super().on_message(message)
