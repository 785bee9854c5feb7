"""The event bus: typed publish/subscribe, routed by event type and recipient."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pykka
from opentelemetry import metrics, trace

from ._address_book import AddressBook, InProcessAddressBook, mailbox_depths
from ._bus_statistics import BusStatistics
from ._dead_letters import DeadLetters
from ._envelope import Envelope
from ._errors import BusClosedError, ConfigurationError
from ._event import Event
from ._sink import EventSink
from ._subscription import Subscription, SubscriptionTable
from ._telemetry import Telemetry
from ._tracing import BusTracer, ProcessScope, continuing_trace

__all__ = ["BusStatistics", "EventBus"]

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
R = TypeVar("R")

_NO_SPAN = contextlib.nullcontext()  # reusable


class EventBus:
    """Routes typed events to subscribers' mailboxes, in publish order.

    Delivery to an actor is made by name through the address book
    (:class:`~bus.lowlevel.AddressBook`), by default a Pykka ``tell`` into the actor's
    mailbox (Pykka calls it ``actor_inbox``), in the
    publisher's thread, so events from one publisher reach one subscriber in publish
    order. A restarted actor keeps receiving: while a bound actor is dead and not yet
    rebound (:meth:`bind`), events for it are *parked* for the next actor bound to that
    name; :meth:`unbind` turns them into dead letters.

    An event that cannot be delivered — addressed (``event.recipient``) to a name no
    subscription with that ``recipient`` matches (observers subscribed without a
    recipient do not count), to a name not bound, or refused by a callable subscriber
    that raised — becomes a dead letter: counted, logged at WARNING and published as a
    :class:`DeadLetter`. It is never dropped silently.

    Args:
        tracer_provider: Where the ``publish``/``process`` spans go; ``None`` uses the
            global provider (OpenTelemetry's no-op one unless the application set one).
        meter_provider: Where metrics go (dead letters, mailbox depth, and the actors'
            task, token and restart metrics); ``None`` uses the global provider.
        telemetry: Both providers as one value, with the span processor of the fast
            path (see :class:`Telemetry`); instead of the two arguments above.
        tracing: ``False`` creates no spans and carries no trace context at all.
        publish_spans: ``False`` traces each hop with one span, the ``process`` span,
            the child of the publisher's span, instead of a ``publish`` span and its
            ``process`` child (the OpenTelemetry messaging conventions allow a consumer
            span alone); about half the cost of tracing a hop.
        event_log: Gets every published event before its subscribers do (see
            :class:`EventSink`), e.g. a :class:`memory.SQLiteEventLog`; publishers of
            optional events then always build them (:meth:`has_subscribers` is true).
        address_book: Where events for actor names are delivered; ``None`` uses a new
            :class:`~bus.lowlevel.InProcessAddressBook` (this process's actors, told through Pykka).

    Attributes:
        telemetry: The tracer and meter providers above, as one :class:`Telemetry` (its
            tracer provider a no-op one when ``tracing`` is off): what the actors on
            this bus report to unless they are given their own.

    Example:
        >>> from bus import EventBus, TaskCompleted
        >>> bus = EventBus(tracing=False)
        >>> got = []
        >>> _ = bus.subscribe(TaskCompleted, got.append)
        >>> bus.publish(TaskCompleted(agent="legal", task_id="t2", result=3))
        >>> got[0].result
        3
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        telemetry: Telemetry | None = None,
        tracing: bool = True,
        publish_spans: bool = True,
        event_log: EventSink | None = None,
        address_book: AddressBook | None = None,
    ) -> None:
        self.event_log = event_log
        self._lock = threading.RLock()
        self._subscriptions = SubscriptionTable()
        self._routes = self._subscriptions.routes  # the cache, for publish's fast path
        self._address_book = address_book if address_book is not None else InProcessAddressBook()
        self._closed = False
        if telemetry is None:
            telemetry = Telemetry(tracer_provider, meter_provider)
        elif tracer_provider is not None or meter_provider is not None:
            msg = "Give EventBus either telemetry= or tracer_provider=/meter_provider=, not both."
            raise ConfigurationError(msg)
        if not tracing:
            telemetry = Telemetry(trace.NoOpTracerProvider(), telemetry.meter_provider)
        self.tracing = tracing
        self.telemetry = telemetry
        self._tracer = BusTracer(telemetry, publish_spans=publish_spans) if tracing else None
        meter = self.telemetry.meter("actorchestra.bus")
        self._dead_letters = DeadLetters(meter)
        meter.create_observable_gauge(
            "actorchestra.mailbox.depth",
            callbacks=[lambda _options: mailbox_depths(self._address_book)],
            unit="{message}",
            description="Messages waiting in each bound actor's mailbox.",
        )

    # -- subscriptions -------------------------------------------------------------

    def subscribe(
        self,
        event_type: type[E],
        subscriber: str | Callable[[E], object],
        *,
        recipient: str | None = None,
        where: Callable[[E], bool] | None = None,
    ) -> Subscription:
        """Subscribe to events of ``event_type`` and its subclasses.

        Args:
            event_type: An :class:`Event` subclass (``Event`` itself for every event).
            subscriber: An actor's name, bound with :meth:`bind` (the actor receives an
                envelope, :class:`~bus.lowlevel.Envelope`, in its mailbox), or a callable
                that receives the event in the publisher's thread, before any actor is
                told of it (it must not block: it delays the publisher and every actor's
                delivery).
            recipient: Only events addressed to this name (e.g. ``TaskStarted.agent``).
            where: Only events for which this returns true; runs in the publisher's
                thread.

        Returns:
            The subscription. Subscribing an actor name again with the same type and
            recipient (and no ``where``) returns the existing subscription, so an actor
            that subscribes on every restart is subscribed once.

        Raises:
            ConfigurationError: ``event_type`` is not an :class:`Event` subclass, or the
                subscriber name is empty.
            BusClosedError: The bus was stopped.
        """
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            msg = f"Cannot subscribe to {event_type!r}: it is not a subclass of bus.Event."
            raise ConfigurationError(msg)
        if isinstance(subscriber, str) and not subscriber:
            msg = "Cannot subscribe an actor with an empty name; give it a stable name."
            raise ConfigurationError(msg)
        with self._lock:
            self._check_open()
            return self._subscriptions.add(event_type, subscriber, recipient, where)

    def unsubscribe(self, subscription: Subscription) -> None:
        """Remove a subscription; removing one twice is a no-op."""
        self._subscriptions.remove(subscription)

    # -- address book --------------------------------------------------------------

    def bind(self, name: str, ref: pykka.ActorRef[Any]) -> None:
        """Bind ``name`` (the stable name subscriptions use) to ``ref``, parked events first.

        Raises:
            ConfigurationError: ``name`` is bound to another actor that is still alive.
        """
        self._address_book.bind(name, ref)

    def unbind(self, name: str, ref: pykka.ActorRef[Any] | None = None) -> None:
        """Remove ``name`` from the address book; its parked events become dead letters.

        If ``ref`` is given, only while ``name`` is still bound to that actor.
        """
        for message in self._address_book.unbind(name, ref):
            self._dead_letter(message, name, "subscriber stopped")

    def requeue(self, name: str, messages: list[Any]) -> None:
        """Hand back messages a stopped actor named ``name`` never processed.

        A supervisor uses this for a crashed child's mailbox. If ``name`` is bound to a
        live actor they are told to it now; if it is bound to a dead one they go in
        front of the events parked for its successor; if it is not bound they become
        dead letters. ``messages`` are oldest first.
        """
        if not messages:
            return
        for message in self._address_book.requeue(name, messages):
            self._dead_letter(message, name, "subscriber stopped")

    def lookup(self, name: str) -> pykka.ActorRef[Any] | None:
        """The actor bound to ``name``, or ``None``."""
        return self._address_book.lookup(name)

    def has_subscribers(self, event_type: type[Event]) -> bool:
        """Whether a broadcast event of ``event_type`` would reach anyone.

        Publishers of optional events (e.g. the orchestrator's lifecycle records) check it
        to skip building events nobody takes.
        """
        return self.event_log is not None or bool(self._subscriptions.route((event_type, None)))

    # -- publishing ----------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to every matching subscriber.

        Runs in the caller's thread: the event log (if any) appends it first, then
        callable subscribers are called in turn, then actor subscribers get an envelope
        (:class:`~bus.lowlevel.Envelope`) by ``tell`` (non-blocking). So an event is
        logged, and seen by every callable (e.g. :class:`actors.testing.EventRecorder`),
        before any actor can react to it: a recording keeps causes before their effects,
        whichever threads publish them. With tracing on, this is one ``publish <type>`` PRODUCER
        span, the child of the current span (outside any trace, events whose
        ``starts_trace`` is false get no span, a broadcast event no one subscribes to gets
        none: nothing hops, and neither does an event the sampler drops: its envelope
        carries the publisher's context).

        Raises:
            BusClosedError: The bus was stopped.
        """
        if self._closed:
            self._check_open()
        recipient = event.recipient
        key = (type(event), recipient)
        subs = self._routes.get(key)
        if subs is None:
            subs = self._subscriptions.route(key)
        tracer = self._tracer
        if tracer is None:
            self._send(Envelope(event), subs)
            return
        envelope, span = tracer.start_publish(event, recipient, bool(subs) or recipient is not None)
        if span is None:
            self._send(envelope, subs)
            return
        try:
            self._send(envelope, subs)
        finally:
            span.end()

    def receive(self, envelope: Envelope[Event]) -> list[tuple[str, str]]:
        """Deliver an envelope from another process to this process's subscribers only.

        For transports (e.g. :class:`bus.NatsTransport`): as :meth:`publish` (event
        log first), but with no ``publish`` span (the sender made it), nothing sent on
        to another process, and what an actor here cannot be told returned instead of
        becoming a dead letter, for the transport to hand back to another process.

        Args:
            envelope: The event with the sender's span context; ``envelope.received``
                set (the subject it came on).

        Returns:
            ``(subscriber, reason)`` for each actor subscriber it could not be told to.

        Raises:
            BusClosedError: The bus was stopped.
        """
        self._check_open()
        event = envelope.event
        key = (type(event), event.recipient)
        subs = self._routes.get(key)
        failed: list[tuple[str, str]] = []
        self._send(envelope, subs if subs is not None else self._subscriptions.route(key), failed)
        return failed

    def _send(
        self,
        envelope: Envelope[Event],
        subs: tuple[Subscription, ...],
        failed: list[tuple[str, str]] | None = None,
    ) -> None:
        """Append ``envelope`` to the event log (if any), then deliver it."""
        log = self.event_log
        if log is not None:
            log.append(envelope)
        self._deliver(envelope, subs, failed)

    def processing(
        self, envelope: Envelope[Event], subscriber: str
    ) -> contextlib.AbstractContextManager[object]:
        """Context manager an actor runs its handling of ``envelope`` in.

        With tracing on it is the ``process <type>`` CONSUMER span (child of, and linked
        to, the publish span), current while the handler runs; otherwise a no-op.
        """
        tracer = self._tracer
        if tracer is None:
            return _NO_SPAN
        return ProcessScope(tracer, envelope, subscriber)

    def handle(
        self, envelope: Envelope[Event], subscriber: str, handler: Callable[[Event], R]
    ) -> R:
        """Run ``handler(envelope.event)`` as ``subscriber``'s handling of ``envelope``.

        The same as calling it inside :meth:`processing`, faster (a hop the sampler
        drops only makes the publisher's context current around the call, about
        0.2 us). Exceptions propagate.
        """
        tracer = self._tracer
        if tracer is None:
            return handler(envelope.event)
        return tracer.handle(envelope, subscriber, handler)

    def continuing(
        self, envelope: Envelope[Event] | None
    ) -> contextlib.AbstractContextManager[object]:
        """Make the span that published ``envelope`` current, without a new span.

        A supervisor reporting a crash uses it, so the crash and restart events it
        publishes stay in the trace of the event that was in flight.
        """
        if envelope is None or envelope.span_context is None or self._tracer is None:
            return _NO_SPAN
        return continuing_trace(envelope.span_context)

    def _deliver(
        self,
        envelope: Envelope[Event],
        subs: tuple[Subscription, ...],
        failed: list[tuple[str, str]] | None = None,
    ) -> None:
        """Deliver to ``subs``; what an actor cannot be told is a dead letter (or in ``failed``)."""
        event = envelope.event
        addressed = False  # reached (or dead-lettered for) a subscriber of the recipient
        for sub in subs:
            if sub.where is not None and not sub.where(event):
                continue
            target = sub.subscriber
            if sub.recipient is not None:
                addressed = True
            if isinstance(target, str):
                reason = self._address_book.deliver(target, envelope)
                if reason is not None and failed is not None:
                    failed.append((target, reason))
                elif reason is not None:
                    self._dead_letter(envelope, target, reason)
            else:
                self._call(sub, target, envelope)
        unrouted = not addressed and event.recipient is not None and event.dead_letter_if_unrouted
        if unrouted and failed is not None:
            failed.append((event.recipient or "", "no subscriber"))
        elif unrouted:
            self._dead_letter(envelope, event.recipient or "", "no subscriber")

    def _call(
        self, sub: Subscription, target: Callable[[Any], object], envelope: Envelope[Event]
    ) -> None:
        try:
            self.handle(envelope, sub.subscriber_name, target)
        except Exception as exc:
            logger.exception("Subscriber %s raised on %s", sub.subscriber_name, envelope)
            self._dead_letter(
                envelope, sub.subscriber_name, f"subscriber raised {type(exc).__name__}: {exc}"
            )

    def dead_letter(self, message: object, subscriber: str, reason: str) -> None:
        """Count and log ``message`` as a dead letter, and publish its :class:`DeadLetter`.

        For transports: what :meth:`receive` could not deliver to ``subscriber``.
        """
        self._dead_letter(message, subscriber, reason)

    def _dead_letter(self, message: object, subscriber: str, reason: str) -> None:
        letter = self._dead_letters.record(message, subscriber, reason)
        if letter is not None and not self._closed:
            self.publish(letter)

    # -- lifetime ------------------------------------------------------------------

    def statistics(self) -> BusStatistics:
        """A frozen snapshot of the bus's counters."""
        return BusStatistics(
            subscriptions=len(self._subscriptions),
            bound_names=len(self._address_book.bound()),
            parked=self._address_book.parked_count(),
            dead_letters=self._dead_letters.count,
        )

    def stop(self) -> None:
        """Close the bus: later :meth:`publish` and :meth:`subscribe` calls raise."""
        with self._lock:
            self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            msg = "EventBus is stopped; create a new bus to publish or subscribe again."
            raise BusClosedError(msg)
