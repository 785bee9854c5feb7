"""Reading a JetStream stream's messages on some subjects, with a throwaway consumer.

Each read creates an ephemeral pull consumer filtered by the subjects (NATS docs,
"JetStream", "Consumers": no acknowledgements, in memory, removed by the server after
``_INACTIVE`` seconds if this process vanishes, deleted at once otherwise), fetches what
was pending when it started, in stream order, and deletes it. Every wait is bounded:
:func:`call_retrying` retries a read that failed on a broken connection (the server
restarting) until its deadline.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from memory._errors import MemoryStoreError

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext

    from bus import NatsTransport

__all__ = ["call_retrying", "read_stream"]

T = TypeVar("T")

_INACTIVE = 30.0  # seconds before the server removes a consumer whose reader vanished
_FETCH_WAIT = 5.0  # seconds one fetch waits for the messages it knows are there
_BATCH = 512  # messages one fetch asks for, at most

TRANSIENT = (
    TimeoutError,  # nats-py's timeouts too
    nats.errors.NoRespondersError,
    nats.errors.StaleConnectionError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.ServerError,
    nats.js.errors.NoStreamResponseError,
)
"""Failures that mean "try again": no answer, a broken connection, JetStream not ready."""


async def read_stream(
    js: JetStreamContext,
    stream: str,
    subjects: Sequence[str],
    *,
    last_per_subject: bool = False,
) -> list[Msg]:
    """The messages of ``stream`` on ``subjects`` (wildcards allowed), in stream order.

    Args:
        js: The JetStream context (call in its event loop).
        stream: The stream's name.
        subjects: One or more filter subjects.
        last_per_subject: Only the newest message of each subject (a key-value bucket's
            current values).

    Raises:
        TimeoutError, nats.errors.Error: The server did not answer or the connection broke.
    """
    name = f"read-{uuid.uuid4().hex}"
    config = ConsumerConfig(
        name=name,
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.LAST_PER_SUBJECT if last_per_subject else DeliverPolicy.ALL,
        inactive_threshold=_INACTIVE,
        mem_storage=True,
        filter_subject=subjects[0] if len(subjects) == 1 else None,
        filter_subjects=list(subjects) if len(subjects) > 1 else None,
    )
    info = await js.add_consumer(stream, config)
    try:
        subscription = await js.pull_subscribe_bind(consumer=name, stream=stream)
        try:
            wanted = info.num_pending or 0
            messages: list[Msg] = []
            while len(messages) < wanted:
                batch = await subscription.fetch(min(_BATCH, wanted - len(messages)), _FETCH_WAIT)
                messages.extend(batch)
                if batch and batch[-1].metadata.num_pending == 0:
                    break
            return messages
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
    finally:
        with contextlib.suppress(Exception):
            await js.delete_consumer(stream, name)


def call_retrying(
    transport: NatsTransport,
    make: Callable[[], Coroutine[Any, Any, T]],
    timeout: float,
    what: str,
) -> T:
    """Run ``make()`` on the transport's loop; again on a transient failure, until ``timeout``.

    Args:
        transport: Whose event loop runs it (never called from that loop's thread).
        make: Makes a fresh coroutine for each try.
        timeout: Seconds for all tries together.
        what: Who asks and what for, for the error's message.

    Raises:
        MemoryStoreError: Transient failures for ``timeout`` seconds (the last one is
            its ``__cause__``). Anything else the coroutine raises, at once.
    """
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        remaining = deadline - time.monotonic()
        try:
            return transport.call(make(), max(remaining, 0.01))
        except TRANSIENT as exc:
            if time.monotonic() + pause >= deadline:
                msg = f"{what}: JetStream did not answer within {timeout} s ({exc!r})."
                raise MemoryStoreError(msg) from exc
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
