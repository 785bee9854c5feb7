"""A transport's counters, and the snapshot users read."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Counters", "PoolStatistics", "TransportStatistics"]


@dataclass(slots=True)
class Counters:
    """What a transport counts, written from its event-loop thread only."""

    sent: int = 0
    received: int = 0
    redelivered: int = 0
    handed_back: int = 0
    dead_letters: int = 0
    publish_retries: int = 0
    reconnects: int = 0


@dataclass(frozen=True, slots=True)
class TransportStatistics:
    """A snapshot of a transport's counters since it started.

    Attributes:
        sent: Messages stored in JetStream by this process.
        received: Messages taken from JetStream and delivered here.
        redelivered: Of those, messages the server had delivered before (to a process
            that died, or that handed them back).
        handed_back: Messages this process could not deliver and handed back (nak).
        dead_letters: Messages given up (max deliveries, unreadable, unpublishable).
        publish_retries: JetStream publishes tried again (e.g. while reconnecting).
        reconnects: Reconnections to the server.
        outbox: Messages waiting to be published now.
        in_progress: Attempts running here whose messages are not yet acknowledged.
    """

    sent: int
    received: int
    redelivered: int
    handed_back: int
    dead_letters: int
    publish_retries: int
    reconnects: int
    outbox: int
    in_progress: int


@dataclass(frozen=True, slots=True)
class PoolStatistics:
    """The server's view of a name's queue: what its pool of processes has to do.

    From the durable consumer's info (NATS docs, "Consumer Details").

    Attributes:
        name: The served name (an agent, or the orchestrator).
        waiting: Messages stored and not yet delivered to any process.
        in_progress: Messages delivered and not yet acknowledged (attempts running).
        redelivered: Messages delivered more than once so far.
        idle_requests: Fetch requests waiting for work: idle members of the pool.
    """

    name: str
    waiting: int
    in_progress: int
    redelivered: int
    idle_requests: int
