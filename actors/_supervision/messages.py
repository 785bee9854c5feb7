"""What a supervisor is told: child exits, due restarts, deadlines and tree queries."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from actors._link import ActorExit

from .child_spec import ChildSpec

__all__ = [
    "ChildExited",
    "RestartDue",
    "StartChild",
    "StopBy",
    "TerminateChild",
    "Terminating",
    "WhichChildren",
]


@dataclass(frozen=True, slots=True)
class ChildExited:
    """A linked child's thread ended (told from that thread)."""

    child_id: str
    exit: ActorExit


@dataclass(frozen=True, slots=True)
class WhichChildren:
    """Asks for the children, as ``(ChildInfo, ref)`` pairs (OTP ``which_children``)."""


@dataclass(frozen=True, slots=True)
class StopBy:
    """The whole subtree has stopped (or is abandoned) by ``deadline`` (``time.monotonic``)."""

    deadline: float


@dataclass(frozen=True, slots=True)
class RestartDue:
    """A child's restart backoff has passed."""

    child_id: str


@dataclass(frozen=True, slots=True)
class StartChild:
    """Add and start a child (OTP ``start_child``); answered with its ref."""

    spec: ChildSpec


@dataclass(frozen=True, slots=True)
class TerminateChild:
    """Stop a child and forget its spec (OTP ``terminate_child`` + ``delete_child``)."""

    child_id: str


@dataclass(slots=True)
class Terminating:
    """The children a supervisor is stopping, by actor URN: their exits are no crashes."""

    urns: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, urn: str) -> None:
        """The actor at ``urn`` is being stopped by its supervisor."""
        with self.lock:
            self.urns.add(urn)

    def claim(self, urn: str) -> bool:
        """Whether the actor at ``urn`` was being stopped (and forget it)."""
        with self.lock:
            if urn in self.urns:
                self.urns.discard(urn)
                return True
            return False
