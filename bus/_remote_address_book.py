"""An address book that sends what this process cannot deliver to another process."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ._address_book import NOT_BOUND, InProcessAddressBook
from ._envelope import Envelope
from ._event import Event

__all__ = ["RemoteAddressBook"]


class RemoteAddressBook(InProcessAddressBook):
    """This process's actors first; then the names other processes serve.

    A message for a name bound here (alive, or dead and parked for its successor) is
    delivered as :class:`~bus.lowlevel.InProcessAddressBook` does. A message for a name
    not bound here that was declared remote (:meth:`reach`) goes to ``send(name,
    envelope)`` (a transport: NATS), which returns ``None`` once it has taken it, else
    why not; for any other name it is undeliverable, as in-process (a dead letter, not a
    message no process will ever take). What arrived from another process
    (``envelope.received``) is never sent on: it is for this process's actors only.

    Args:
        send: Takes ``(name, envelope)`` for another process; non-blocking or briefly
            blocking (backpressure), from any thread.
    """

    __slots__ = ("_remote", "_send")

    def __init__(self, send: Callable[[str, Envelope[Event]], str | None]) -> None:
        super().__init__()
        self._send = send
        self._remote: frozenset[str] = frozenset()

    def reach(self, names: Iterable[str]) -> None:
        """Declare ``names`` served by other processes (added to those declared before)."""
        with self._lock:
            self._remote = self._remote.union(names)

    def deliver(self, name: str, message: object) -> str | None:
        """Deliver ``message`` here, or send it to the process that serves ``name``.

        Returns:
            ``None`` if delivered, parked or sent; otherwise why not.
        """
        reason = super().deliver(name, message)
        if reason is not NOT_BOUND or name not in self._remote:
            return reason
        if not isinstance(message, Envelope) or message.received:
            return reason
        return self._send(name, message)
