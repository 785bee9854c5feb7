"""The base actor: a named Pykka actor on the bus, linked to its supervisor."""

from __future__ import annotations

import contextlib
import logging
import queue
import sys
from types import TracebackType
from typing import Any

import pykka
from pykka import messages as pykka_messages

from bus import ActorTerminated, BusClosedError, Event, EventBus, Subscription
from bus._errors import error_text
from bus.lowlevel import Envelope

from ._errors import ConfigurationError
from ._link import ActorExit, current_link

__all__ = ["Actor", "ContainedBaseException"]

logger = logging.getLogger(__name__)


class ContainedBaseException(Exception):  # noqa: N818 - it wraps, it is not an error kind
    """A ``BaseException`` (``SystemExit``, ``KeyboardInterrupt``) raised by actor code.

    Pykka's default answer to a ``BaseException`` in any actor is to stop *every* actor
    in the process. Our actors contain it instead: it becomes a crash of that one actor
    (the original is in ``__cause__``), which its supervisor handles.
    """


class Actor(pykka.ThreadingActor):
    """A Pykka ``ThreadingActor`` with a stable name, a bus and a supervisor link.

    * Bound on the bus under ``name`` just before its thread starts, so events
      addressed to the name reach this actor, and events parked while its predecessor
      was restarting are handed over first.
    * :class:`bus.lowlevel.Envelope` messages go to :meth:`on_event`, inside the bus's
      ``process`` span; other messages go to :meth:`on_message`.
    * A ``BaseException`` from its code crashes this actor only (see
      :class:`ContainedBaseException`); an exception in ``on_start`` is a crash too.
    * When its thread ends, its supervisor (if it was started under one) is told how:
      the exception, the envelope in flight and the unprocessed ``tell`` messages of
      its mailbox, which Pykka would otherwise drop. An actor with no supervisor
      unbinds its name; its unprocessed events become dead letters.

    Args:
        name: Stable name; the supervisor's child id for supervised actors.
        bus: The bus to bind to; ``None`` for an actor that only takes direct messages.

    Raises:
        ConfigurationError: ``name`` is empty.
    """

    use_daemon_thread = True
    """Actor threads are daemon threads (Pykka's setting): a program whose main thread
    ends exits even if an agent's handler ignores cancellation. Stop a team
    (``with Team(...)``, :meth:`actors.Team.stop`) for a graceful end; work cut short
    by the process exiting is what :meth:`actors.Team.resume` continues."""

    def __init__(self, *, name: str, bus: EventBus | None = None) -> None:
        super().__init__()
        if not name:
            msg = f"{type(self).__name__} needs a non-empty name; pass name='...'."
            raise ConfigurationError(msg)
        self.name = name
        self.bus = bus
        self._link = current_link()
        self._in_flight: Envelope[Event] | None = None
        self._exit_reason: BaseException | None = None
        self._leftovers: list[Any] = []
        self._owned: list[Subscription] = []

    def own(self, subscription: Subscription) -> Subscription:
        """Remove ``subscription`` from the bus when this actor's thread ends; returns it.

        For callable subscriptions bound to this actor's methods (they would otherwise
        outlive it).
        """
        self._owned.append(subscription)
        return subscription

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.name!r} ({self.actor_urn})"

    @staticmethod
    def _create_actor_inbox() -> queue.SimpleQueue[Any]:
        # The mailbox (Pykka's ``actor_inbox``) is an unbounded ``queue.SimpleQueue``:
        # implemented in C, it costs a fraction of ``queue.Queue``'s locks and
        # conditions per message, which is most of a hop's cost.
        inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        return inbox

    # -- hooks for subclasses --------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Handle one event from the bus. Runs in this actor's thread.

        It may block (the actor handles one message at a time). An exception it raises
        crashes the actor; its supervisor restarts it and reports the event in flight.
        The default ignores the event.
        """

    def on_message(self, message: Any) -> Any:  # noqa: ANN401 - any message may be told
        """Handle a message that is not an event. Runs in this actor's thread.

        The default logs it at WARNING, as Pykka does.
        """
        return super().on_receive(message)

    # -- Pykka plumbing --------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:  # noqa: ANN401
        """Dispatch envelopes to :meth:`on_event` and the rest to :meth:`on_message`."""
        if isinstance(message, Envelope):
            self._in_flight = message
            bus = self.bus
            if bus is None:
                self.on_event(message.event)
            else:
                bus.handle(message, self.name, self.on_event)
            self._in_flight = None
            return None
        return self.on_message(message)

    def _start_actor_loop(self) -> None:
        if self.bus is not None:
            try:
                self.bus.bind(self.name, self.actor_ref)
            except BaseException:
                # Pykka registered us already; a never-started actor must not linger.
                pykka.ActorRegistry.unregister(self.actor_ref)
                self.actor_stopped.set()
                raise
        super()._start_actor_loop()

    def _handle_receive(self, message: Any) -> Any:  # noqa: ANN401
        try:
            return super()._handle_receive(message)
        except Exception:
            raise
        except BaseException as exc:
            text = f"{type(exc).__name__} raised in actor {self.name!r}"
            raise ContainedBaseException(text) from exc

    def _actor_loop_setup(self) -> None:
        try:
            super()._actor_loop_setup()
        except BaseException:
            self._handle_failure(*sys.exc_info())

    def _handle_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._exit_reason is None and exception_value is not None:
            cause = exception_value.__cause__
            contained = isinstance(exception_value, ContainedBaseException)
            self._exit_reason = cause if contained and cause is not None else exception_value
        super()._handle_failure(exception_type, exception_value, traceback)

    def _actor_loop_teardown(self) -> None:
        # Pykka answers pending asks with ActorDeadError and drops pending tells;
        # we keep the tells for the supervisor to hand to this actor's successor.
        dead = pykka.ActorDeadError(f"{self.actor_ref} stopped before handling the message")
        while not self.actor_inbox.empty():
            envelope = self.actor_inbox.get()
            if envelope.reply_to is None:
                if not isinstance(envelope.message, pykka_messages._ActorStop):
                    self._leftovers.append(envelope.message)
            elif isinstance(envelope.message, pykka_messages._ActorStop):
                envelope.reply_to.set(None)
            else:
                envelope.reply_to.set_exception(exc_info=(type(dead), dead, None))

    def _actor_loop(self) -> None:
        try:
            super()._actor_loop()
        finally:
            self._report_exit()

    def watch(self, target: str) -> None:
        """Death-watch: receive an :class:`bus.ActorTerminated` when ``target`` ends.

        Call it from this actor's thread (e.g. in ``on_start``). Watching is by name:
        it covers every incarnation of ``target`` (a restarted actor keeps the name)
        and survives this actor's own restarts. Watching twice is watching once.

        Raises:
            ConfigurationError: This actor has no bus.
        """
        if self.bus is None:
            msg = f"Actor {self.name!r} has no bus; give it one to watch {target!r}."
            raise ConfigurationError(msg)
        self.bus.subscribe(ActorTerminated, self.name, recipient=target)

    def _report_exit(self) -> None:
        if self.bus is not None:
            for subscription in self._owned:
                self.bus.unsubscribe(subscription)
            reason = self._exit_reason
            with contextlib.suppress(BusClosedError):
                self.bus.publish(
                    ActorTerminated(
                        source=self.name,
                        actor=self.name,
                        abnormal=reason is not None,
                        error_type="" if reason is None else type(reason).__name__,
                        message="" if reason is None else error_text(reason),
                    )
                )
        exit_ = ActorExit(
            name=self.name,
            ref=self.actor_ref,
            reason=self._exit_reason,
            in_flight=self._in_flight if self._exit_reason is not None else None,
            leftovers=self._leftovers,
        )
        if self._link is not None:
            try:
                self._link(exit_)
            except Exception:
                logger.exception("Supervisor link of %s failed; unbinding it", self)
            else:
                return
        if self.bus is not None:
            exit_.hand_on(self.bus)  # parked for the name, then dead letters on unbind
            self.bus.unbind(self.name, self.actor_ref)
