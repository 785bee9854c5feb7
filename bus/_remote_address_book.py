"""An address book that sends what this process cannot deliver to another process."""

from __future__ import annotations

from collections.abc import Callable

from ._address_book import NOT_BOUND, InProcessAddressBook
from ._envelope import Envelope
from ._event import Event

__all__ = ["RemoteAddressBook"]


class RemoteAddressBook(InProcessAddressBook):
    """This process's actors first; a name bound to none of them is served elsewhere.

    A message for a name bound here (alive, or dead and parked for its successor) is
    delivered as :class:`~bus.lowlevel.InProcessAddressBook` does. A message for a name
    not bound here goes to ``send(name, envelope)`` (a transport: NATS), which returns
    ``None`` once it has taken it, else why not. What arrived from another process
    (``envelope.received``) is never sent on: it is for this process's actors only.

    Args:
        send: Takes ``(name, envelope)`` for another process; non-blocking or briefly
            blocking (backpressure), from any thread.
    """

    __slots__ = ("_send",)

    def __init__(self, send: Callable[[str, Envelope[Event]], str | None]) -> None:
        super().__init__()
        self._send = send

    def deliver(self, name: str, message: object) -> str | None:
        """Deliver ``message`` here, or send it to the process that serves ``name``.

        Returns:
            ``None`` if delivered, parked or sent; otherwise why not.
        """
        reason = super().deliver(name, message)
        if reason is not NOT_BOUND or not isinstance(message, Envelope) or message.received:
            return reason
        return self._send(name, message)
