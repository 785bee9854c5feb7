"""JetStreamEventLog: the event log in a JetStream stream, readable from any process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from nats.js.api import RetentionPolicy, StorageType, StreamConfig

from bus import Event
from bus.lowlevel import Envelope
from memory._event_log import Retention, WorkflowInfo, note_workflow
from memory._stored_events import SkippedRecords, SkipsRecords, read_fields

from ._log_records import LogSubjects, in_append_order, log_message, stored_fields
from ._log_retention import purge_retained
from ._log_writer import LogWriter
from ._stream_reads import call_retrying, read_stream

if TYPE_CHECKING:
    from nats.aio.msg import Msg

    from bus import NatsTransport

__all__ = ["JetStreamEventLog"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class JetStreamEventLog(SkipsRecords):
    """An :class:`EventLog` in a NATS JetStream stream: a workflow resumes on any host.

    Every process of a team may give its bus one on its transport's connection; they
    share the stream ``<namespace>-log`` (file storage, limits retention: events stay
    until :meth:`retain` purges them), so ``team.resume(workflow_id)`` works from any
    process after the one that ran the workflow died. Subjects and message format are
    described in ``memory._jetstream._log_records``; each event is a CloudEvent with its
    ``traceparent``, its schema version and ``Nats-Msg-Id`` = the event id.

    **Appending** (NATS docs, "JetStream"): ``append`` only queues (at most
    ``max_pending`` events; past that a publisher waits up to ``backpressure_timeout``
    seconds, then :class:`MemoryStoreError`). It also runs on the transport's event-loop
    thread, when the bus takes an event from another process: there it never waits.
    One task on that loop publishes the queue in order and awaits JetStream's
    acknowledgements (the event is stored, in file storage); :meth:`flush` waits for
    them. A publish is retried for ``outage_timeout`` seconds while the server is
    unreachable (restarting), then the event is lost: logged at ERROR and counted in
    :attr:`lost`; so is at once an event JetStream refuses (larger than the server's
    ``max_payload``, 1 MB by default). Events still queued at interpreter exit are
    published then (at most 10 s). Close the log before the transport.

    **Duplicates** ("Message Deduplication"): the receiving process of an event appends
    it too; JetStream drops an id it stored within ``duplicate_window`` seconds, and
    readers drop any later copy. **Order**: each process's events are read back in the
    order it appended them; events of different processes in the order the server
    stored them.

    **Versions**: as :class:`SQLiteEventLog` (the version in the
    ``Actorchestra-Schema-Version`` header): records of unknown event types are
    skipped and counted in :attr:`skipped`; an unreadable one of a known type raises.

    Every read (:meth:`events`, :meth:`workflows`, :meth:`retain`) uses a throwaway
    consumer and is retried while the connection is broken, within ``read_timeout``.

    Args:
        transport: The :class:`bus.NatsTransport` whose connection and loop it uses.
        retention: A policy this process applies every ``retain_every`` seconds;
            ``None`` keeps everything (call :meth:`retain` yourself).
        retain_every: Seconds between automatic retention runs.
        duplicate_window: Seconds JetStream remembers event ids (for a new stream).
        max_pending: Events appended and not yet stored, at most.
        backpressure_timeout: Seconds a publisher waits for room in the queue.
        outage_timeout: Seconds a failed publish is retried.
        read_timeout: Seconds a read may take, retries included.
        clock: Seconds since the epoch (for tests of retention by age).

    Raises:
        MemoryStoreError: The stream could not be created or found within
            ``read_timeout`` seconds.

    Example:
        ``log = JetStreamEventLog(transport); bus = transport.bus(event_log=log)``
    """

    def __init__(
        self,
        transport: NatsTransport,
        *,
        retention: Retention | None = None,
        retain_every: float = 60.0,
        duplicate_window: float = 120.0,
        max_pending: int = 10_000,
        backpressure_timeout: float = 30.0,
        outage_timeout: float = 60.0,
        read_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._transport = transport
        self._log = LogSubjects(transport.subjects.namespace)
        self.stream = self._log.stream
        self.retention, self.retain_every = retention, retain_every
        self.read_timeout = read_timeout
        self._clock = clock
        self._skip = SkippedRecords(self.stream)
        self._retainer: asyncio.Task[None] | None = None
        stream = StreamConfig(
            name=self.stream,
            subjects=[self._log.all],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            duplicate_window=duplicate_window,
        )
        self._call(lambda: transport.ensure_stream(stream))
        self._writer = LogWriter(
            transport,
            self.stream,
            max_pending=max_pending,
            backpressure_timeout=backpressure_timeout,
            outage_timeout=outage_timeout,
        )
        if retention is not None:
            self._call(self._start_retention)

    @property
    def lost(self) -> int:
        """Events that could not be stored (each loss is logged at ERROR)."""
        return self._writer.lost

    def _call(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        return call_retrying(self._transport, make, self.read_timeout, f"Event log {self.stream!r}")

    # -- writing ---------------------------------------------------------------------

    def append(self, envelope: Envelope[Event]) -> None:
        """See :meth:`EventLog.append`; never waits on the transport's loop thread.

        Raises:
            MemoryStoreError: The log is closed, or no room in the queue within
                ``backpressure_timeout`` seconds.
        """
        payload, headers = log_message(envelope)
        self._writer.append(self._log.of(envelope.event), payload, headers)

    def flush(self, timeout: float = 30.0) -> None:
        """See :meth:`EventLog.flush`: everything appended is acknowledged by JetStream."""
        self._writer.flush(timeout)

    # -- reading ---------------------------------------------------------------------

    def _read(self, subjects: list[str], task_id: str | None = None) -> list[Event]:
        self.flush(self.read_timeout)
        js = self._transport.jetstream
        return self._events(self._call(lambda: read_stream(js, self.stream, subjects)), task_id)

    def _events(self, messages: list[Msg], task_id: str | None = None) -> list[Event]:
        """The events of ``messages``: in append order, each once, readable here."""
        events: list[Event] = []
        seen: set[object] = set()
        for message in in_append_order(messages, lambda m: m.headers):
            stored = stored_fields(message.data, message.headers, self._skip)
            if stored is None:
                continue
            fields, version = stored
            if fields.get("id") in seen:
                continue
            seen.add(fields.get("id"))
            if task_id is not None and fields.get("task_id", "") != task_id:
                continue
            event = read_fields(fields, version, self.stream, self._skip)
            if event is not None:
                events.append(event)
        return events

    def events(self, workflow_id: str, task_id: str | None = None) -> list[Event]:
        """See :meth:`EventLog.events`.

        Raises:
            MemoryStoreError: JetStream did not answer within ``read_timeout`` seconds,
                or a record of a known type cannot be read.
        """
        return self._read([self._log.workflow(workflow_id)], task_id)

    def workflows(self) -> list[WorkflowInfo]:
        """See :meth:`EventLog.workflows` (read from the workflows' starts and ends)."""
        return self._workflows(self._read(self._log.lifecycle))

    @staticmethod
    def _workflows(events: list[Event]) -> list[WorkflowInfo]:
        workflows: dict[str, WorkflowInfo] = {}
        for event in events:
            note_workflow(workflows, event)
        return sorted(workflows.values(), key=lambda w: w.started_at)

    def __len__(self) -> int:
        """Messages in the stream (after a flush)."""
        self.flush(self.read_timeout)
        js = self._transport.jetstream
        return int(self._call(lambda: js.stream_info(self.stream)).state.messages)

    # -- bounded growth ----------------------------------------------------------------

    def retain(self, policy: Retention) -> int:
        """See :meth:`EventLog.retain`: purges the stream's subjects the policy drops."""
        self.flush(self.read_timeout)
        return self._call(lambda: self._retain(policy))

    async def _retain(self, policy: Retention) -> int:
        js = self._transport.jetstream
        lifecycle = await read_stream(js, self.stream, self._log.lifecycle)
        workflows = self._workflows(self._events(lifecycle))
        return await purge_retained(js, self._log, policy, self._clock(), workflows)

    async def _start_retention(self) -> None:
        self._retainer = asyncio.get_running_loop().create_task(self._retain_forever())

    async def _retain_forever(self) -> None:
        assert self.retention is not None
        while True:
            await asyncio.sleep(self.retain_every)
            try:
                removed = await self._retain(self.retention)
            except Exception:  # the next run tries again
                logger.exception("Event log %s: retention failed; will try again", self.stream)
            else:
                logger.debug("Event log %s: retention removed %d events", self.stream, removed)

    # -- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        """See :meth:`EventLog.close`: stores what is queued (within ``outage_timeout``).

        The transport stays open (it is the caller's).
        """
        if not self._writer.close(self._writer.outage_timeout):
            return
        if self._retainer is not None:
            with contextlib.suppress(Exception):
                self._transport.call(self._stop_retention(), 5)

    async def _stop_retention(self) -> None:
        if self._retainer is not None:
            self._retainer.cancel()
