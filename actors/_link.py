"""How a child learns who supervises it: OTP's ``start_link``, for Pykka actors.

A supervisor calls a child spec's ``start`` inside :func:`linking`; the
:class:`actors.Actor` constructed there captures the exit callback, so it is linked
before its thread starts and no crash can go unseen.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pykka

    from bus import Envelope, Event

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
