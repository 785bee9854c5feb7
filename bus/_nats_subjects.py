"""The NATS subjects and JetStream names of one namespace (one team's traffic).

An event for the actor named ``<name>``, spoken for by ``<sender>`` (see
:attr:`bus.Event.sender`: an agent's outcome names the agent), travels on
``<namespace>.to.<name>.<sender>``, stored in the stream ``<namespace>-messages``
(work-queue retention: a message lives until a consumer acknowledges it) and read by
the durable pull consumer ``to-<name>``, which every process serving ``<name>`` shares
(a pool). So a server's permissions can say which names a worker may receive for
(``$JS.API.CONSUMER.MSG.NEXT.<stream>.to-<name>``) and which senders it may speak for
(``<namespace>.to.*.<sender>``). Undeliverable messages go to ``<namespace>.deadletter``.
A cancellation must reach the member of the pool running the attempt, whichever it is:
it goes to every one, on the core NATS subject ``<namespace>.control.<name>``.

Names become subject tokens by escaping every character but ASCII letters, digits and
``_`` as ``%XX`` (UTF-8), so ``team.agents`` is ``team%2Eagents``; the empty name is
``-``. NATS docs, "Subject-Based Messaging": tokens are separated by ``.``, and ``*``
and ``>`` are wildcards; consumer names may not hold ``.``, ``*``, ``>`` or slashes.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from ._errors import ConfigurationError

__all__ = ["Subjects", "token"]

_PLAIN = re.compile(r"[A-Za-z0-9_]")
_NAMESPACE = re.compile(r"^[A-Za-z0-9_]{1,32}$")


def token(name: str) -> str:
    """``name`` as one subject token (and part of a consumer name).

    >>> token("legal"), token("team.agents"), token("")
    ('legal', 'team%2Eagents', '-')
    """
    if not name:
        return "-"
    return "".join(c if _PLAIN.match(c) else "".join(f"%{b:02X}" for b in c.encode()) for c in name)


class Subjects:
    """The subjects, stream and consumer names of ``namespace``.

    Args:
        namespace: ASCII letters, digits and ``_``, at most 32: one team's traffic.

    Raises:
        ConfigurationError: ``namespace`` has other characters.
    """

    def __init__(self, namespace: str) -> None:
        if not _NAMESPACE.match(namespace):
            msg = f"NATS namespace {namespace!r} must be 1-32 ASCII letters, digits or '_'."
            raise ConfigurationError(msg)
        self.namespace = namespace
        self.stream = f"{namespace}-messages"
        self.all_messages = f"{namespace}.to.>"
        self.dead_letters = f"{namespace}.deadletter"

    def to(self, name: str, sender: str) -> str:
        """The subject of a message for ``name`` spoken for by ``sender``."""
        return f"{self.namespace}.to.{token(name)}.{token(sender)}"

    def control(self, name: str) -> str:
        """The core NATS subject every process serving ``name`` hears (cancellations)."""
        return f"{self.namespace}.control.{token(name)}"

    def inbox(self, name: str) -> str:
        """The subjects of every message for ``name`` (a filter)."""
        return f"{self.namespace}.to.{token(name)}.>"

    def consumer(self, name: str) -> str:
        """The durable consumer that the processes serving ``name`` share."""
        return f"to-{token(name)}"

    def worker_permissions(
        self, agents: Collection[str], orchestrator: str = "orchestrator"
    ) -> dict[str, list[str]]:
        """The least a worker serving ``agents`` must be allowed (NATS "Authorization").

        It may take its agents' work from their consumers (the JetStream API's next-
        message, acknowledgement and info subjects), publish their outcomes to the
        orchestrator as those agents only, and receive replies on ``_INBOX.>``. Put the
        two lists in the user's ``permissions`` (see :class:`actors.testing.NatsUser`);
        the stream and consumers are then made by a process allowed to (the team's:
        ``NatsTransport(provision=True)``), and the worker runs with ``provision=False``.

        Returns:
            ``{"publish": [...], "subscribe": [...]}``, subjects with wildcards.

        >>> Subjects("dd").worker_permissions(["legal"])["publish"][0]
        'dd.to.orchestrator.legal'
        """
        publish = [f"{self.namespace}.to.{token(orchestrator)}.{token(a)}" for a in agents]
        publish.append(self.dead_letters)
        for agent in agents:
            consumer = f"{self.stream}.{self.consumer(agent)}"
            publish += [
                f"$JS.API.CONSUMER.MSG.NEXT.{consumer}",
                f"$JS.API.CONSUMER.INFO.{consumer}",
                f"$JS.ACK.{consumer}.>",
            ]
        subscribe = ["_INBOX.>", *(self.control(agent) for agent in agents)]
        return {"publish": publish, "subscribe": subscribe}
