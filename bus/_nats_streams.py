"""The JetStream stream and consumers of a namespace, made if missing.

The stream (``<namespace>-messages``) keeps every message for another process, in file
storage, until a consumer acknowledges it (work-queue retention, NATS docs "Streams");
its two-minute duplicate window drops a message published twice under one
``Nats-Msg-Id``. Each served name has a durable pull consumer with explicit
acknowledgement, an ack wait and a bound on deliveries (NATS docs "Consumers").
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from ._nats_subjects import Subjects

__all__ = ["add_consumer", "add_stream", "ensure_stream"]

MAX_ACK_PENDING = 1000  # messages a pool may hold unacknowledged at once


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream ``config`` describes, unless it exists (then it is kept as is).

    Raises:
        nats.errors.Error: The server refused (other than "it exists") or did not answer.
    """
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError:  # it exists with another configuration
        await js.stream_info(str(config.name))


async def add_stream(js: JetStreamContext, subjects: Subjects) -> None:
    """Create the namespace's stream, or keep the one there is."""
    config = StreamConfig(
        name=subjects.stream,
        subjects=[subjects.all_messages],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=120.0,
    )
    await ensure_stream(js, config)


async def add_consumer(
    js: JetStreamContext, subjects: Subjects, name: str, ack_wait: float, max_deliver: int
) -> None:
    """Create the durable consumer of ``name`` (``ack_wait`` in seconds), or keep it."""
    config = ConsumerConfig(
        durable_name=subjects.consumer(name),
        filter_subject=subjects.inbox(name),
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=max_deliver,
        max_ack_pending=MAX_ACK_PENDING,
    )
    with contextlib.suppress(nats.js.errors.BadRequestError):  # exists: keep it
        await js.add_consumer(subjects.stream, config)
