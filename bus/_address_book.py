"""The address book: which actor answers to a name, and delivery to it (the transport seam)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

import pykka
from opentelemetry import metrics

from ._errors import ConfigurationError

__all__ = ["NOT_BOUND", "AddressBook", "InProcessAddressBook", "mailbox_depths"]

_MAX_PARKED = 10_000
NOT_BOUND = "subscriber not bound"
"""Why :meth:`InProcessAddressBook.deliver` did not deliver: no actor has the name here."""


class AddressBook(Protocol):
    """Where :class:`EventBus` delivers a message for a named actor.

    The bus routes an event to subscriber *names*; the address book turns a name into a
    delivery. :class:`InProcessAddressBook` tells the actor bound in this process; a
    transport (e.g. NATS) may implement the same methods. Every method may be called
    from any thread at once (publishers, actors, supervisors and the metric reader), so
    an implementation must be thread-safe. None may block for long: :meth:`deliver` and
    :meth:`requeue` run in a publisher's or supervisor's thread. Only :meth:`bind`
    raises on purpose; what any method raises propagates to the bus's caller.

    What cannot be delivered is handed back, never dropped: :meth:`deliver` returns a
    reason, :meth:`unbind` and :meth:`requeue` return messages, and the bus turns them
    into dead letters.
    """

    def bind(self, name: str, ref: pykka.ActorRef[Any]) -> None:
        """Make ``ref`` answer to ``name``, handing it the messages held for ``name``.

        Raises:
            ConfigurationError: ``name`` is bound to another actor that is still alive.
        """
        ...

    def unbind(self, name: str, ref: pykka.ActorRef[Any] | None = None) -> list[object]:
        """Remove ``name`` (only while bound to ``ref``, if given).

        Returns:
            The messages held for ``name`` that are now undeliverable.
        """
        ...

    def lookup(self, name: str) -> pykka.ActorRef[Any] | None:
        """The actor bound to ``name``, or ``None``."""
        ...

    def deliver(self, name: str, message: object) -> str | None:
        """Deliver ``message`` to the actor bound to ``name``, or hold it for its successor.

        Returns:
            ``None`` if it was delivered or is held, otherwise why it was not (e.g.
            ``"subscriber not bound"``).
        """
        ...

    def requeue(self, name: str, messages: Sequence[object]) -> list[object]:
        """Hand back ``messages`` a stopped actor named ``name`` never processed, in order.

        Returns:
            Those that could be neither delivered nor held (``name`` is not bound).
        """
        ...

    def bound(self) -> list[tuple[str, pykka.ActorRef[Any]]]:
        """A snapshot of the bound names and their actors."""
        ...

    def parked_count(self) -> int:
        """How many messages are held for names whose actor is dead."""
        ...


class InProcessAddressBook:
    """The default :class:`AddressBook`: actors of this process, told through Pykka.

    Delivery is Pykka's non-blocking ``tell`` into the bound actor's mailbox. While a
    bound actor is dead and not yet rebound, messages for its name are *parked* (up to
    10 000 per name) and handed to the next actor bound to that name, in order.
    Thread-safe.
    """

    __slots__ = ("_lock", "_parked", "_refs")

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._refs: dict[str, pykka.ActorRef[Any]] = {}
        self._parked: dict[str, deque[object]] = {}

    def bind(self, name: str, ref: pykka.ActorRef[Any]) -> None:
        """Bind ``name`` to ``ref``, telling it the messages parked for ``name`` first.

        Args:
            name: The stable name subscriptions use.
            ref: The actor now answering to it. If it dies while the parked messages
                are told, the rest stay parked for the next actor.

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

    def unbind(self, name: str, ref: pykka.ActorRef[Any] | None = None) -> list[object]:
        """Remove ``name``; its parked messages are returned, to become dead letters.

        Args:
            name: The name to remove.
            ref: If given, unbind only while ``name`` is still bound to this actor.

        Returns:
            The messages parked for ``name``, oldest first; none if ``ref`` is given
            and ``name`` is bound to another actor.
        """
        with self._lock:
            current = self._refs.get(name)
            if current is not None and ref is not None and current.actor_urn != ref.actor_urn:
                return []
            if current is not None:
                del self._refs[name]
            return list(self._parked.pop(name, ()))

    def lookup(self, name: str) -> pykka.ActorRef[Any] | None:
        """The actor bound to ``name``, or ``None``."""
        return self._refs.get(name)

    def deliver(self, name: str, message: object) -> str | None:
        """Tell ``message`` to the actor bound to ``name``; park it if that actor is dead.

        Runs in the caller's thread and does not block.

        Returns:
            ``None`` if told or parked; ``"subscriber not bound"``, or
            ``"subscriber dead and 10000 messages already parked"``, otherwise.
        """
        ref = self._refs.get(name)
        if ref is None:
            return NOT_BOUND
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            return self._park(name, ref, message)
        return None

    def requeue(self, name: str, messages: Sequence[object]) -> list[object]:
        """Hand back ``messages`` a stopped actor named ``name`` never processed.

        If ``name`` is bound to a live actor they are told to it now; if it is bound to
        a dead one they go in front of the messages parked for its successor.

        Returns:
            ``messages`` if ``name`` is not bound (they become dead letters), else none.
        """
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
                    return []
            if current is not None:
                self._parked.setdefault(name, deque()).extendleft(reversed(messages))
                return []
        return list(messages)

    def bound(self) -> list[tuple[str, pykka.ActorRef[Any]]]:
        """A snapshot of the bound names and their actors."""
        with self._lock:
            return list(self._refs.items())

    def parked_count(self) -> int:
        """How many messages are parked, over all names."""
        with self._lock:
            return sum(len(q) for q in self._parked.values())

    def _park(self, name: str, dead: pykka.ActorRef[Any], message: object) -> str | None:
        """Tell ``message`` to ``dead``'s successor if bound already, else park it."""
        with self._lock:
            current = self._refs.get(name)
            if current is not None and current.actor_urn != dead.actor_urn:
                try:
                    current.tell(message)
                except pykka.ActorDeadError:
                    pass
                else:
                    return None
            if current is None:
                return "subscriber not bound"
            parked = self._parked.setdefault(name, deque())
            if len(parked) < _MAX_PARKED:
                parked.append(message)
                return None
            return f"subscriber dead and {_MAX_PARKED} messages already parked"


def mailbox_depths(book: AddressBook) -> list[metrics.Observation]:
    """The depth of each bound, live actor's mailbox (for a metric reader's thread)."""
    observations = []
    for name, ref in book.bound():
        qsize = getattr(ref.actor_inbox, "qsize", None)  # queue.Queue and SimpleQueue
        if qsize is not None and ref.is_alive():
            observations.append(metrics.Observation(qsize(), {"actorchestra.actor.name": name}))
    return observations
