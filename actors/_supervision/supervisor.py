"""Supervisors: actors that start, watch and restart other actors (OTP ``supervisor``)."""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pykka
from opentelemetry import trace

from actors._actor import Actor
from actors._errors import ConfigurationError
from actors._link import ActorExit, linking
from actors._metrics import Instruments
from actors._timers import TIMERS, TimerHandle
from bus import (
    ChildRestarted,
    ChildStarted,
    EventBus,
    Telemetry,
)

from .child_spec import ChildSpec, RestartPolicy
from .crash_report import report_failed_start, reporting_crash
from .messages import (
    ChildExited,
    RestartDue,
    StartChild,
    StopBy,
    TerminateChild,
    Terminating,
    WhichChildren,
)
from .restart_strategy import RestartIntensity, RestartStrategy, escalate
from .shutdown import stop_budget, stop_children, stop_within
from .tree import ChildInfo, format_tree, which_children

__all__ = ["ChildInfo", "Supervisor"]

logger = logging.getLogger(__name__)

_S = TypeVar("_S", bound="Supervisor")


@dataclass(slots=True)
class _Child:
    spec: ChildSpec
    ref: pykka.ActorRef[Any] | None = None
    restart_count: int = 0
    consecutive: int = 0  # restarts since the child last ran for backoff.reset_after
    started_at: float = 0.0


class Supervisor(Actor):
    """Starts children from child specs in order and keeps them running.

    When a child exits, the supervisor publishes :class:`bus.ChildCrashed` (for a
    crash, naming the task in flight so the orchestrator retries it), then applies
    the child's restart type and the :class:`RestartStrategy`, publishing
    :class:`bus.ChildRestarted` per restarted child. Unprocessed messages of a crashed
    child's mailbox are handed to its successor (ahead of newer events); a child that
    is not restarted has its name unbound and its messages dead-lettered.

    More than ``max_restarts`` restarts within ``period`` seconds make the supervisor
    stop all children in reverse start order, publish :class:`bus.SupervisorEscalated`
    and crash with :class:`RestartLimitExceeded`, so its own supervisor applies its
    strategy; a root supervisor publishes the event with ``fatal=True`` and stops,
    leaving the rest of the process running.

    Children are started synchronously in the thread that calls ``Supervisor.start``
    (as OTP's ``start_link``): when it returns, every child is running. If a child
    fails to start, the ones already started are stopped and the error propagates.

    Args:
        name: The supervisor's stable name.
        bus: The bus for lifecycle events and children's names.
        children: Child specs, in start order; ids must be unique.
        strategy: Restart strategy.
        max_restarts: Restart intensity: restarts allowed within ``period``.
        period: Restart intensity window, in seconds.
        telemetry: Where its ``crash`` spans and restart metrics go; ``None`` uses the
            bus's (``bus.telemetry``).

    Raises:
        ConfigurationError: Duplicate child ids.
    """

    def __init__(
        self,
        *,
        name: str,
        bus: EventBus,
        children: Sequence[ChildSpec] = (),
        strategy: RestartStrategy = RestartStrategy.ONE_FOR_ONE,
        max_restarts: int = 3,
        period: float = 5.0,
        telemetry: Telemetry | None = None,
    ) -> None:
        super().__init__(name=name, bus=bus)
        ids = [spec.id for spec in children]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            msg = f"Supervisor {name!r} has duplicate child ids {duplicates}; make them unique."
            raise ConfigurationError(msg)
        self._bus = bus
        self.strategy = strategy
        self._intensity = RestartIntensity(max_restarts, period)
        self._children: dict[str, _Child] = {spec.id: _Child(spec) for spec in children}
        self._terminating = Terminating()
        self._stopping = False
        self._stop_deadline: float | None = None
        self._timers: dict[str, TimerHandle] = {}
        self._rng = random.Random()
        telemetry = telemetry if telemetry is not None else bus.telemetry
        self._tracer = telemetry.tracer("actorchestra.supervisor")
        self._metrics = Instruments.of_telemetry(telemetry)
        try:
            for child_id in self._children:
                self._start_child(child_id)
        except BaseException:
            self._shutdown()
            raise

    # -- public ----------------------------------------------------------------------

    @staticmethod
    def tree(ref: pykka.ActorRef[_S], timeout: float = 5.0) -> tuple[ChildInfo, ...]:
        """The children of the supervisor at ``ref``, recursively (see :func:`which_children`).

        Raises:
            pykka.ActorDeadError: A supervisor on the way stopped.
            pykka.Timeout: A supervisor did not answer within ``timeout`` seconds.
        """
        return which_children(ref, timeout, lambda r: issubclass(r.actor_class, Supervisor))

    @staticmethod
    def format_tree(infos: Sequence[ChildInfo], indent: str = "") -> str:
        """Render :meth:`tree`'s result as indented text, one child per line."""
        return format_tree(infos, indent)

    @staticmethod
    def start_child(
        ref: pykka.ActorRef[_S], spec: ChildSpec, timeout: float = 10.0
    ) -> pykka.ActorRef[Any]:
        """Add ``spec`` as the last child and start it (OTP ``start_child``).

        Raises:
            ConfigurationError: A child with that id exists.
            Exception: Whatever the spec's ``start`` raised; the child is not added.
        """
        child: pykka.ActorRef[Any] = ref.ask(StartChild(spec), block=True, timeout=timeout)
        return child

    @staticmethod
    def terminate_child(ref: pykka.ActorRef[_S], child_id: str, timeout: float = 10.0) -> None:
        """Stop child ``child_id`` and forget its spec (OTP ``terminate_child`` + ``delete_child``).

        Raises:
            ConfigurationError: No child has that id.
        """
        ref.ask(TerminateChild(child_id), block=True, timeout=timeout)

    @classmethod
    @contextlib.contextmanager
    def running(cls, **kwargs: Any) -> Iterator[pykka.ActorRef[Supervisor]]:  # noqa: ANN401
        """Start a supervisor for the ``with`` block; stop its whole tree on exit.

        Takes the constructor's arguments; yields the supervisor's ref. On exit the tree
        stops in reverse start order, each child within its shutdown timeout.
        """
        ref = cls.start(**kwargs)
        try:
            yield ref
        finally:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.stop(block=True, timeout=stop_budget(kwargs.get("children", ())))

    # -- actor hooks -----------------------------------------------------------------

    def on_message(self, message: Any) -> Any:  # noqa: ANN401
        """Handle child exits, due restarts, tree queries and dynamic children."""
        if isinstance(message, ChildExited):
            self._on_child_exited(message.child_id, message.exit)
        elif isinstance(message, RestartDue):
            self._timers.pop(message.child_id, None)
            self._restart_now(message.child_id)
        elif isinstance(message, StopBy):
            self._stop_deadline = message.deadline
        elif isinstance(message, WhichChildren):
            return tuple(
                (
                    ChildInfo(
                        child.spec.id,
                        child.ref is not None and child.ref.is_alive(),
                        child.restart_count,
                        child.spec.restart,
                    ),
                    child.ref,
                )
                for child in self._children.values()
            )
        elif isinstance(message, StartChild):
            return self._add_child(message.spec)
        elif isinstance(message, TerminateChild):
            self._remove_child(message.child_id)
        else:
            return super().on_message(message)
        return None

    def on_stop(self) -> None:
        """Stop every child in reverse start order, each within its shutdown timeout."""
        self._shutdown()

    def on_failure(self, *_exc_info: object) -> None:
        """Crashed (e.g. restart limit): make sure no child outlives the supervisor."""
        self._shutdown()

    # -- internals -------------------------------------------------------------------

    def _shutdown(self) -> None:
        self._stopping = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._terminate(list(reversed(self._children)))
        for child_id in self._children:
            self._bus.unbind(child_id)

    def _add_child(self, spec: ChildSpec) -> pykka.ActorRef[Any]:
        if spec.id in self._children:
            msg = f"Supervisor {self.name!r} already has a child {spec.id!r}; ids must be unique."
            raise ConfigurationError(msg)
        self._children[spec.id] = _Child(spec)
        try:
            self._start_child(spec.id)
        except BaseException:
            del self._children[spec.id]
            raise
        ref = self._children[spec.id].ref
        assert ref is not None
        return ref

    def _remove_child(self, child_id: str) -> None:
        if child_id not in self._children:
            msg = f"Supervisor {self.name!r} has no child {child_id!r}."
            raise ConfigurationError(msg)
        timer = self._timers.pop(child_id, None)
        if timer is not None:
            timer.cancel()
        ref = self._children[child_id].ref
        self._terminate([child_id])
        del self._children[child_id]
        self._bus.unbind(child_id, ref)

    def _start_child(self, child_id: str) -> None:
        child = self._children[child_id]

        def on_exit(exit_: ActorExit) -> None:  # runs in the child's thread
            if self._terminating.claim(exit_.ref.actor_urn):
                exit_.hand_on(self._bus)  # now, so they go ahead of newer events
                return
            self.actor_ref.tell(ChildExited(child_id, exit_))

        with linking(on_exit):
            ref = child.spec.start()
        child.ref = ref
        child.started_at = time.monotonic()
        self._bus.publish(ChildStarted(source=self.name, supervisor=self.name, child=child_id))

    def _terminate(self, child_ids: list[str]) -> None:
        """Stop children in the given order, within the stop deadline (see ``shutdown``)."""
        stopping = []
        for child_id in child_ids:
            child = self._children.get(child_id)
            if child is not None and child.ref is not None:
                stopping.append((child_id, child.spec, child.ref))
                child.ref = None
        stop_children(
            self.name,
            stopping,
            deadline=self._stop_deadline,
            terminating=self._terminating,
            is_supervisor=lambda ref: issubclass(ref.actor_class, Supervisor),
        )

    @staticmethod
    def stop_within(ref: pykka.ActorRef[Supervisor], timeout: float) -> bool:
        """Stop the supervisor at ``ref`` and its whole tree within ``timeout`` seconds.

        Children stop in reverse start order, each within its ``shutdown_timeout`` but
        all within ``timeout`` in total (not per child, in series). OTP's ``shutdown``
        ends with ``brutal_kill``; Python threads cannot be killed, so a child still
        running then is abandoned (one WARNING per supervisor names them).

        Returns:
            Whether the supervisor stopped in time.
        """
        return stop_within(ref, timeout)

    def _on_child_exited(self, child_id: str, exit_: ActorExit) -> None:
        child = self._children.get(child_id)
        exit_.hand_on(self._bus)  # to its successor, ahead of newer events
        if child is None or child.ref is None or child.ref.actor_urn != exit_.ref.actor_urn:
            return  # a child we already replaced
        child.ref = None
        if exit_.reason is None:
            self._after_exit(child, exit_)
            return
        with reporting_crash(self._bus, self._tracer, self.name, child_id, exit_):
            self._after_exit(child, exit_)

    def _after_exit(self, child: _Child, exit_: ActorExit) -> None:
        child_id = child.spec.id
        if self._stopping or not child.spec.restart.restarts(abnormal=exit_.abnormal):
            self._bus.unbind(child_id, exit_.ref)
            if child.spec.restart is RestartPolicy.TEMPORARY:
                del self._children[child_id]
            return
        backoff = child.spec.backoff
        if backoff is not None and time.monotonic() - child.started_at >= backoff.reset_seconds:
            child.consecutive = 0
        self._restart(child_id)

    def _restart(self, child_id: str) -> None:
        """Apply the strategy to ``child_id``'s exit: one restart, as OTP counts them."""
        if not self._intensity.add_restart():
            self._escalate()
        trace.get_current_span().add_event(
            "restart",
            {"actorchestra.child": child_id, "actorchestra.strategy": self.strategy.value},
        )
        affected = self.strategy.affected(list(self._children), child_id)
        self._terminate([c for c in reversed(affected) if c != child_id])
        for cid in affected:
            child = self._children[cid]
            if cid != child_id and child.spec.restart is RestartPolicy.TEMPORARY:
                del self._children[cid]  # OTP: temporary siblings are not restarted
                self._bus.unbind(cid)
                continue
            self._schedule(child)

    def _schedule(self, child: _Child) -> None:
        child.restart_count += 1
        backoff = child.spec.backoff
        if backoff is None:
            self._restart_now(child.spec.id)
            return
        child.consecutive += 1
        delay = backoff.delay(child.consecutive, self._rng)
        logger.info("Restarting child %r of %r in %.3f s", child.spec.id, self.name, delay)
        message = RestartDue(child.spec.id)

        def due() -> None:  # runs in the timer thread
            with contextlib.suppress(pykka.ActorDeadError):
                self.actor_ref.tell(message)

        self._timers[child.spec.id] = TIMERS.call_later(delay, due)

    def _restart_now(self, child_id: str) -> None:
        child = self._children.get(child_id)
        if child is None or child.ref is not None or self._stopping:
            return
        try:
            self._start_child(child_id)
        except Exception as exc:  # a crash on start is a crash: count it, retry
            report_failed_start(self._bus, self.name, child_id, exc)
            if not self._intensity.add_restart():
                self._escalate()
            self._schedule(child)
            return
        logger.info("Restarted child %r of %r", child_id, self.name)
        self._metrics.restarts.add(
            1, {"actorchestra.supervisor": self.name, "actorchestra.child": child_id}
        )
        self._bus.publish(
            ChildRestarted(
                source=self.name,
                supervisor=self.name,
                child=child_id,
                restart_count=child.restart_count,
            )
        )

    def _escalate(self) -> None:
        fatal = self._link is None
        self._shutdown()
        escalate(self._bus, self.name, self._intensity, fatal=fatal)
