"""The in-process event bus: typed publish/subscribe onto actor mailboxes."""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, overload

import pykka
from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import NonRecordingSpan

from ._envelope import Envelope
from ._errors import BusClosedError, ConfigurationError
from ._event import DeadLetter, Event
from ._sink import EventSink
from ._subscription import Subscription
from ._tracing import BusTracer, ProcessScope

__all__ = ["BusStatistics", "EventBus"]

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
R = TypeVar("R")

_MAX_PARKED = 10_000
_NO_SPAN = contextlib.nullcontext()  # reusable


@dataclass(frozen=True, slots=True)
class BusStatistics:
    """A snapshot of the bus's counters.

    Attributes:
        subscriptions: Live subscriptions.
        bound_names: Names bound to an actor.
        parked: Messages held for names whose actor is restarting.
        dead_letters: Events that could not be delivered, since the bus started.
    """

    subscriptions: int
    bound_names: int
    parked: int
    dead_letters: int


class EventBus:
    """Routes typed events to subscribers' mailboxes, in publish order.

    Delivery is a Pykka ``tell`` into each matching actor's mailbox (Pykka calls it
    ``actor_inbox``), made in the publisher's thread, so events from one publisher
    reach one subscriber in publish order. Actors are addressed by **name**: the bus
    keeps an address book (:meth:`bind`), so a restarted actor keeps receiving. While
    a bound actor is dead and not yet rebound, events for it are *parked* and handed to
    the next actor bound to that name; :meth:`unbind` turns them into dead letters.

    An event that cannot be delivered — addressed (``event.recipient``) to a name no
    subscription with that ``recipient`` matches (observers subscribed without a
    recipient do not count),
    to a name not bound, or refused by a callable subscriber that raised — becomes a
    dead letter: counted, logged at WARNING and published as a :class:`DeadLetter`.
    It is never dropped silently.

    Args:
        tracer_provider: Where the ``publish``/``process`` spans go; ``None`` uses the
            global provider (OpenTelemetry's no-op one unless the application set one).
        meter_provider: Where metrics go (dead letters, mailbox depth, and the actors'
            task, token and restart metrics); ``None`` uses the global provider.
        tracing: ``False`` creates no spans and carries no trace context at all.
        event_log: Gets every published event before its subscribers do (see
            :class:`EventSink`), e.g. a :class:`memory.SQLiteEventLog`; publishers of
            optional events then always build them (:meth:`has_subscribers` is true).

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
        tracing: bool = True,
        event_log: EventSink | None = None,
    ) -> None:
        self.event_log = event_log
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._subscriptions: dict[int, Subscription] = {}
        self._routes: dict[tuple[type[Event], str | None], tuple[Subscription, ...]] = {}
        self._refs: dict[str, pykka.ActorRef[Any]] = {}
        self._parked: dict[str, deque[Any]] = {}
        self._dead_letters = 0
        self._closed = False
        self._tracer = BusTracer(tracer_provider) if tracing else None
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.tracing = tracing
        meter = self.meter("actorchestra.bus")
        self._dead_letter_counter = meter.create_counter(
            "actorchestra.bus.dead_letters",
            unit="{event}",
            description="Events that could not be delivered to a subscriber.",
        )
        meter.create_observable_gauge(
            "actorchestra.mailbox.depth",
            callbacks=[self._observe_mailboxes],
            unit="{message}",
            description="Messages waiting in each bound actor's mailbox.",
        )

    def meter(self, name: str) -> metrics.Meter:
        """A meter for actors on this bus, from its meter provider (or the global one)."""
        return metrics.get_meter(name, meter_provider=self.meter_provider)

    def _observe_mailboxes(self, _options: metrics.CallbackOptions) -> list[metrics.Observation]:
        # Runs in the metric reader's thread.
        with self._lock:
            refs = list(self._refs.items())
        observations = []
        for name, ref in refs:
            qsize = getattr(ref.actor_inbox, "qsize", None)  # queue.Queue and SimpleQueue
            if qsize is not None and ref.is_alive():
                observations.append(metrics.Observation(qsize(), {"actorchestra.actor.name": name}))
        return observations

    def tracer(self, name: str) -> trace.Tracer:
        """A tracer for actors on this bus: from its provider, or a no-op one if tracing is off."""
        if not self.tracing:
            return trace.NoOpTracer()
        return trace.get_tracer(name, tracer_provider=self.tracer_provider)

    # -- subscriptions -------------------------------------------------------------

    @overload
    def subscribe(
        self,
        event_type: type[E],
        subscriber: str,
        *,
        recipient: str | None = None,
        where: Callable[[E], bool] | None = None,
    ) -> Subscription: ...

    @overload
    def subscribe(
        self,
        event_type: type[E],
        subscriber: Callable[[E], object],
        *,
        recipient: str | None = None,
        where: Callable[[E], bool] | None = None,
    ) -> Subscription: ...

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
                :class:`Envelope` in its mailbox), or a callable that receives the event
                in the publisher's thread, before any actor is told of it (it must not
                block: it delays the publisher and every actor's delivery).
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
            if isinstance(subscriber, str) and where is None:
                for sub in self._subscriptions.values():
                    if (sub.event_type, sub.subscriber, sub.recipient, sub.where) == (
                        event_type,
                        subscriber,
                        recipient,
                        None,
                    ):
                        return sub
            sub = Subscription(next(self._ids), event_type, subscriber, recipient, where)
            self._subscriptions[sub.id] = sub
            self._routes = {}
            return sub

    def unsubscribe(self, subscription: Subscription) -> None:
        """Remove a subscription; removing one twice is a no-op."""
        with self._lock:
            if self._subscriptions.pop(subscription.id, None) is not None:
                self._routes = {}

    # -- address book --------------------------------------------------------------

    def bind(self, name: str, ref: pykka.ActorRef[Any]) -> None:
        """Bind ``name`` to an actor, handing it any events parked for that name.

        Args:
            name: The stable name subscriptions use.
            ref: The actor now answering to it.

        Raises:
            ConfigurationError: ``name`` is bound to another actor that is still alive.
        """
        with self._lock:
            old = self._refs.get(name)
            if old is not None and old.actor_urn != ref.actor_urn and old.is_alive():
                msg = (
                    f"Name {name!r} is already bound to live actor {old}; "
                    "stop that actor or unbind the name first."
                )
                raise ConfigurationError(msg)
            parked = self._parked.pop(name, None)
            try:
                while parked:
                    ref.tell(parked[0])
                    parked.popleft()
            except pykka.ActorDeadError:
                # The new actor died already: keep the rest parked for the next one.
                self._parked[name] = parked if parked is not None else deque()
            self._refs[name] = ref

    def unbind(self, name: str, ref: pykka.ActorRef[Any] | None = None) -> None:
        """Remove ``name`` from the address book; its parked events become dead letters.

        Args:
            name: The name to remove.
            ref: If given, unbind only while ``name`` is still bound to this actor.
        """
        with self._lock:
            current = self._refs.get(name)
            if current is None or (ref is not None and current.actor_urn != ref.actor_urn):
                parked: deque[Any] = deque()
                if current is None:
                    parked = self._parked.pop(name, deque())
            else:
                del self._refs[name]
                parked = self._parked.pop(name, deque())
        for message in parked:
            self._dead_letter_message(message, name, "subscriber stopped")

    def requeue(self, name: str, messages: list[Any]) -> None:
        """Hand back messages a stopped actor named ``name`` never processed.

        A supervisor uses this for a crashed child's mailbox. If ``name`` is bound to a
        live actor they are told to it now; if it is bound to a dead one they go in
        front of the events parked for its successor; if it is not bound they become
        dead letters.
        """
        if not messages:
            return
        with self._lock:
            current = self._refs.get(name)
            if current is not None and current.is_alive():
                sent = 0
                try:
                    for message in messages:
                        current.tell(message)
                        sent += 1
                except pykka.ActorDeadError:
                    messages = messages[sent:]
                else:
                    return
            if current is not None:
                self._parked.setdefault(name, deque()).extendleft(reversed(messages))
                return
        for message in messages:
            self._dead_letter_message(message, name, "subscriber stopped")

    def has_subscribers(self, event_type: type[Event]) -> bool:
        """Whether a broadcast event of ``event_type`` would reach anyone.

        Publishers of optional events (e.g. the orchestrator's lifecycle records) check it
        to skip building events nobody takes.
        """
        if self.event_log is not None:
            return True
        key = (event_type, None)
        subs = self._routes.get(key)
        if subs is None:
            subs = self._route(key)
        return bool(subs)

    def lookup(self, name: str) -> pykka.ActorRef[Any] | None:
        """The actor bound to ``name``, or ``None``."""
        return self._refs.get(name)

    # -- publishing ----------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to every matching subscriber.

        Runs in the caller's thread: the event log (if any) appends it first, then
        callable subscribers are called in turn, then actor subscribers get an
        :class:`Envelope` by ``tell`` (non-blocking). So an event is logged, and seen by
        every callable (e.g. :class:`actors.testing.EventRecorder`), before any actor
        can react to it: a recording keeps causes before their effects, whichever
        threads publish them. With tracing
        on, this is one ``publish <type>`` PRODUCER span, the child of the current span
        (outside any trace, events whose ``starts_trace`` is false get no span, a
        broadcast event no one subscribes to gets none: nothing hops, and neither does
        an event the sampler drops: its envelope carries the publisher's context).

        Raises:
            BusClosedError: The bus was stopped.
        """
        if self._closed:
            self._check_open()
        recipient = event.recipient
        key = (type(event), recipient)
        subs = self._routes.get(key)
        if subs is None:
            subs = self._route(key)
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

    def _send(self, envelope: Envelope[Event], subs: tuple[Subscription, ...]) -> None:
        """Append ``envelope`` to the event log (if any), then deliver it."""
        log = self.event_log
        if log is not None:
            log.append(envelope)
        self._deliver(envelope, subs)

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

    @contextlib.contextmanager
    def continuing(self, envelope: Envelope[Event] | None) -> Iterator[None]:
        """Make the span that published ``envelope`` current, without a new span.

        A supervisor reporting a crash uses it, so the crash and restart events it
        publishes stay in the trace of the event that was in flight.
        """
        if envelope is None or envelope.span_context is None or self._tracer is None:
            yield
            return
        ctx = trace.set_span_in_context(NonRecordingSpan(envelope.span_context))
        token = otel_context.attach(ctx)
        try:
            yield
        finally:
            otel_context.detach(token)

    def _route(self, key: tuple[type[Event], str | None]) -> tuple[Subscription, ...]:
        event_type, recipient = key
        with self._lock:
            matching = [
                s
                for s in self._subscriptions.values()
                if s.matches_type(event_type) and s.recipient in (None, recipient)
            ]
            # Callables first (stable sort: each kind in subscription order): what one
            # records of an event then comes before anything an actor does about it.
            subs = tuple(sorted(matching, key=lambda s: isinstance(s.subscriber, str)))
            self._routes[key] = subs
        return subs

    def _deliver(self, envelope: Envelope[Event], subs: tuple[Subscription, ...]) -> None:
        event = envelope.event
        addressed = False  # reached (or dead-lettered for) a subscriber of the recipient
        for sub in subs:
            if sub.where is not None and not sub.where(event):
                continue
            target = sub.subscriber
            if sub.recipient is not None:
                addressed = True
            if isinstance(target, str):
                ref = self._refs.get(target)
                if ref is None:
                    self._dead_letter(envelope, target, "subscriber not bound")
                    continue
                try:
                    ref.tell(envelope)
                except pykka.ActorDeadError:
                    self._park(target, ref, envelope)
            else:
                self._call(sub, target, envelope)
        if not addressed and event.recipient is not None and event.dead_letter_if_unrouted:
            self._dead_letter(envelope, event.recipient, "no subscriber")

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

    def _park(self, name: str, dead: pykka.ActorRef[Any], message: object) -> None:
        with self._lock:
            current = self._refs.get(name)
            if current is not None and current.actor_urn != dead.actor_urn:
                try:
                    current.tell(message)
                except pykka.ActorDeadError:
                    pass
                else:
                    return
            if current is None:
                reason = "subscriber not bound"
            else:
                parked = self._parked.setdefault(name, deque())
                if len(parked) < _MAX_PARKED:
                    parked.append(message)
                    return
                reason = f"subscriber dead and {_MAX_PARKED} messages already parked"
        self._dead_letter_message(message, name, reason)

    # -- dead letters --------------------------------------------------------------

    def _dead_letter_message(self, message: object, subscriber: str, reason: str) -> None:
        if isinstance(message, Envelope):
            self._dead_letter(message, subscriber, reason)
            return
        with self._lock:
            self._dead_letters += 1
        self._dead_letter_counter.add(1, {"actorchestra.dead_letter.reason": _kind(reason)})
        logger.warning("Dead letter for %s (%s): a non-event message", subscriber, reason)

    def _dead_letter(self, envelope: Envelope[Event], subscriber: str, reason: str) -> None:
        event = envelope.event
        with self._lock:
            self._dead_letters += 1
        self._dead_letter_counter.add(
            1,
            {
                "actorchestra.dead_letter.reason": _kind(reason),
                "messaging.destination.name": subscriber,
            },
        )
        logger.warning("Dead letter: %s %s for %s (%s)", event.type, event.id, subscriber, reason)
        if isinstance(event, DeadLetter) or self._closed:
            return
        self.publish(
            DeadLetter(
                source="bus",
                workflow_id=event.workflow_id,
                task_id=event.task_id,
                causation_id=event.id,
                attempt=event.attempt,
                subscriber=subscriber,
                reason=reason,
                event=event.model_dump(mode="json"),
            )
        )

    # -- lifetime ------------------------------------------------------------------

    def statistics(self) -> BusStatistics:
        """A frozen snapshot of the bus's counters."""
        with self._lock:
            return BusStatistics(
                subscriptions=len(self._subscriptions),
                bound_names=len(self._refs),
                parked=sum(len(q) for q in self._parked.values()),
                dead_letters=self._dead_letters,
            )

    def stop(self) -> None:
        """Close the bus: later :meth:`publish` and :meth:`subscribe` calls raise."""
        with self._lock:
            self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            msg = "EventBus is stopped; create a new bus to publish or subscribe again."
            raise BusClosedError(msg)


def _kind(reason: str) -> str:
    """A dead letter's reason without its details, as a low-cardinality metric attribute."""
    return reason.split(":", 1)[0]
