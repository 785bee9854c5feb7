"""How a child learns who supervises it: OTP's ``start_link``, for Pykka actors.

A supervisor calls a child spec's ``start`` inside :func:`linking`; the
:class:`actors.Actor` constructed there captures the exit callback, so it is linked
before its thread starts and no crash can go unseen.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pykka

if TYPE_CHECKING:
    from bus import Event, EventBus
    from bus.lowlevel import Envelope

__all__ = ["ActorExit", "ExitCallback", "current_link", "linking"]


@dataclass(frozen=True, slots=True)
class ActorExit:
    """How an actor's thread ended.

    Attributes:
        name: The actor's name.
        ref: The actor's (now dead) ref.
        reason: The exception that crashed it, or ``None`` for a normal stop.
        in_flight: The envelope it was handling when it crashed, if any.
        leftovers: Messages told to it that it never processed, in mailbox order.
    """

    name: str
    ref: pykka.ActorRef[Any]
    reason: BaseException | None
    in_flight: Envelope[Event] | None = None
    leftovers: list[Any] = field(default_factory=list)

    @property
    def abnormal(self) -> bool:
        """True for a crash, as OTP counts exit reasons other than ``normal``."""
        return self.reason is not None

    def hand_on(self, bus: EventBus) -> None:
        """Hand the messages this actor never processed on, by its name: the one rule.

        They are :attr:`leftovers` and any ``tell`` that reached the mailbox after its
        teardown emptied it (a sender saw the actor alive just before it stopped); an
        ``ask`` among those is answered with ``pykka.ActorDeadError``, never left
        hanging. :meth:`bus.EventBus.requeue` then gives them to the actor bound to the
        name now, or parks them, ahead of newer events, for the successor of a dead one
        that is still bound, or makes them dead letters if the name is unbound.
        Call it once per exit, after the actor's thread has stopped taking messages.
        """
        bus.requeue(self.name, [*self.leftovers, *_late_tells(self.ref)])


def _late_tells(ref: pykka.ActorRef[Any]) -> list[Any]:
    messages: list[Any] = []
    inbox = ref.actor_inbox
    while True:
        try:
            envelope = inbox.get_nowait()  # type: ignore[attr-defined]
        except queue.Empty:
            return messages
        if envelope.reply_to is None:
            messages.append(envelope.message)
        else:
            dead = pykka.ActorDeadError(f"{ref} stopped before handling the message")
            envelope.reply_to.set_exception(exc_info=(type(dead), dead, None))


ExitCallback = Callable[[ActorExit], None]

_local = threading.local()


@contextmanager
def linking(callback: ExitCallback) -> Iterator[None]:
    """Link every :class:`actors.Actor` constructed in this block to ``callback``.

    The callback runs in the exiting actor's thread, once, and must not block.
    """
    previous = getattr(_local, "callback", None)
    _local.callback = callback
    try:
        yield
    finally:
        _local.callback = previous


def current_link() -> ExitCallback | None:
    """The callback set by the innermost :func:`linking` block of this thread."""
    callback: ExitCallback | None = getattr(_local, "callback", None)
    return callback
