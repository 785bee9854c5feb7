"""JetStreamIdempotencyStore: side effects once per key across processes and hosts."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import nats.js.errors
from nats.js.api import KeyValueConfig, StorageType

from memory._errors import MemoryStoreError
from memory._idempotency_store import (
    SideEffectBusyError,
    _Call,
    _SingleFlight,
    busy_message,
)

from ._claims import Claim, Lease, kv_key
from ._stream_reads import TRANSIENT, call_retrying, read_stream

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

    from bus import NatsTransport

__all__ = ["JetStreamIdempotencyStore"]

T = TypeVar("T")

logger = logging.getLogger(__name__)

_MISSING = (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError)
_KV_OPERATION = "KV-Operation"  # header of a delete or purge marker (Key/Value Store)
_MAX_WATCHED = 10_000  # claims of others whose renewals this store keeps track of


class JetStreamIdempotencyStore(_SingleFlight):
    """Results of side effects in a JetStream key-value bucket, shared by a team's processes.

    A call runs at most once per key across every process and host using the bucket
    ``<namespace>-effects`` (or ``bucket``): the first caller claims the key with the
    bucket's atomic ``create`` (NATS docs, "Key/Value Store"), so of callers racing for
    a key exactly one runs it; the others wait (polling, at most ``timeout`` seconds,
    then :class:`SideEffectBusyError`) for its result. Within a process, callers of one
    key wait for each other first, without asking the server.

    While the call runs its claim is renewed every third of ``lease`` seconds. A claim
    not renewed for ``lease`` seconds, as this store watches it (across calls), belongs
    to a holder that died: the next caller takes it over (a compare-and-set on the
    key's revision, so one caller wins) and runs the call again, logged at WARNING and
    counted in :attr:`in_doubt` — the holder may have done the effect before it died,
    the one window no store closes alone (pass the key on to a service that
    deduplicates by it). A call that raises releases its claim (a later attempt may
    run it); its result is stored for good (until :meth:`forget`).

    Keys become bucket keys deterministically: ``k.<key>`` when the key is made of
    letters, digits and ``-/_=`` (as :func:`actors.idempotency_key`'s are), else
    ``h.<sha256 hex>``.

    Args:
        transport: The :class:`bus.NatsTransport` whose connection and loop it uses.
        bucket: The bucket's name (letters, digits, ``-`` and ``_``); ``None`` for
            ``<namespace>-effects``. Created (file storage, one revision a key) if missing.
        lease: Seconds a claim lives without renewal (whole seconds are safest).
        outage_timeout: Seconds a request is retried while the server is unreachable.

    Raises:
        MemoryStoreError: The bucket could not be created or found within
            ``outage_timeout`` seconds. From :meth:`run_once` too: JetStream was
            unreachable until the timeout, or a result could not be stored within
            ``outage_timeout`` seconds (the call ran; a later attempt takes its claim
            over after ``lease`` seconds and runs it again, in doubt).
    """

    def __init__(
        self,
        transport: NatsTransport,
        *,
        bucket: str | None = None,
        lease: float = 30.0,
        outage_timeout: float = 30.0,
    ) -> None:
        super().__init__()
        self.bucket = bucket or f"{transport.subjects.namespace}-effects"
        self.lease, self.outage_timeout = lease, outage_timeout
        self.in_doubt = 0
        self._transport = transport
        self._holder = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._watched: dict[str, tuple[int, float]] = {}  # bucket key -> (revision, since)
        self._kv: KeyValue = self._retrying(self._open, "open")

    def _retrying(self, make: Callable[[], Coroutine[Any, Any, T]], what: str) -> T:
        where = f"Idempotency bucket {self.bucket!r} ({what})"
        return call_retrying(self._transport, make, self.outage_timeout, where)

    async def _open(self) -> KeyValue:
        js = self._transport.jetstream
        config = KeyValueConfig(bucket=self.bucket, history=1, storage=StorageType.FILE)
        try:
            return await js.create_key_value(config)
        except nats.js.errors.BadRequestError:  # it exists with another configuration
            return await js.key_value(self.bucket)

    # -- one call ----------------------------------------------------------------------

    def _run(self, request: _Call) -> str:
        key = request.key
        if self._transport.in_loop():
            msg = f"Side effect {key!r} cannot run on the NATS transport's event-loop thread."
            raise MemoryStoreError(msg)
        record = Claim("pending", key, request.workflow_id, self._holder)
        wait = max(request.deadline - time.monotonic(), 0.0) + self.outage_timeout + 5
        claimed = self._transport.call(self._claim(record, request), wait)
        if isinstance(claimed, str):
            return claimed
        self._transport.call(self._start(claimed), 10)
        try:
            result = request.call()
        except BaseException:
            try:
                self._retrying(lambda: self._release(claimed), "release a failed call's claim")
            except MemoryStoreError as exc:  # the call's error matters; the claim expires
                logger.warning("%s", exc)
            raise
        self._retrying(lambda: self._finish(claimed, result), "store a result")
        return result

    async def _claim(self, record: Claim, request: _Call) -> Lease | str:
        """Claim ``record.key`` (a lease) or find its result (a string), until ``deadline``.

        Raises:
            SideEffectBusyError: Another holder still runs it at ``deadline``.
            MemoryStoreError: JetStream did not answer until ``deadline``.
        """
        name, deadline = kv_key(record.key), request.deadline
        aliases = [kv_key(alias) for alias in request.aliases]  # looked up once
        pause, problem = 0.02, None
        while True:
            try:
                outcome = await self._try_claim(name, record, aliases)
                if outcome is not None:
                    return outcome
                aliases, problem = [], None
            except nats.js.errors.KeyWrongLastSequenceError:
                problem = None  # another caller was faster: look again
            except TRANSIENT as exc:
                problem = exc
            if time.monotonic() >= deadline:
                if problem is not None:
                    msg = f"Side effect {record.key!r}: JetStream unreachable ({problem!r})."
                    raise MemoryStoreError(msg)
                raise SideEffectBusyError(busy_message(record.key, request.timeout))
            await asyncio.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
            pause = min(pause * 1.5, 0.25)

    async def _try_claim(self, name: str, record: Claim, aliases: list[str]) -> Lease | str | None:
        """One look: the result, a new lease, or ``None`` (someone holds it; wait)."""
        found = await self._get(name)
        if found is None or found[1].state != "done":
            for alias in aliases:  # the same call, stored under an older release's key
                older = await self._get(alias)
                if older is not None and older[1].state == "done":
                    return str(older[1].result)
        if found is None:
            revision = await self._kv.create(name, record.encode())
            return Lease(self._kv, name, record, revision)
        revision, stored = found
        if stored.state == "done":
            self._watched.pop(name, None)
            return str(stored.result)
        if not self._expired(name, revision):
            return None
        revision = await self._kv.update(name, record.encode(), last=revision)
        self._watched.pop(name, None)
        self.in_doubt += 1
        logger.warning(
            "Side effect %s was claimed by %s, which did not renew its claim for %s s (it "
            "died?); running it again under the same key",
            record.key,
            stored.holder,
            self.lease,
        )
        return Lease(self._kv, name, record, revision)

    async def _get(self, name: str) -> tuple[int, Claim] | None:
        """The key's revision and record; ``None`` if missing, deleted or not ours."""
        try:
            entry = await self._kv.get(name)
        except _MISSING:
            return None
        record = Claim.decode(entry.value)
        return None if record is None else (entry.revision or 0, record)

    def _expired(self, name: str, revision: int) -> bool:
        """Whether ``name`` kept ``revision`` for a whole lease, as this store saw it."""
        now = time.monotonic()
        seen = self._watched.get(name)
        if seen is None or seen[0] != revision:
            if len(self._watched) >= _MAX_WATCHED:
                del self._watched[next(iter(self._watched))]
            self._watched[name] = (revision, now)
            return False
        return now - seen[1] >= self.lease

    async def _start(self, lease: Lease) -> None:
        lease.start(self.lease / 3)

    async def _finish(self, lease: Lease, result: str) -> None:
        await lease.end()
        done = Claim("done", lease.record.key, lease.record.workflow_id, self._holder, result)
        if not lease.lost:
            try:
                await self._kv.update(lease.name, done.encode(), last=lease.revision)
            except nats.js.errors.KeyWrongLastSequenceError:
                pass  # taken over meanwhile: the result is stored all the same
            else:
                return
        await self._kv.put(lease.name, done.encode())

    async def _release(self, lease: Lease) -> None:
        await lease.end()
        if not lease.lost:
            try:
                await self._kv.delete(lease.name, last=lease.revision)
            except nats.js.errors.APIError as exc:  # taken over meanwhile: not ours
                logger.debug("Side effect %s: claim not released: %s", lease.record.key, exc)

    # -- housekeeping --------------------------------------------------------------------

    def _records(self) -> list[tuple[str, Claim]]:
        """Every key's record (bucket key, record), from one pass over the bucket."""
        js, stream = self._transport.jetstream, f"KV_{self.bucket}"
        subjects = [f"$KV.{self.bucket}.>"]
        messages = self._retrying(
            lambda: read_stream(js, stream, subjects, last_per_subject=True), "read the bucket"
        )
        records = []
        for message in messages:
            if (message.headers or {}).get(_KV_OPERATION):
                continue  # deleted or purged
            record = Claim.decode(message.data)
            if record is not None:
                records.append((message.subject.removeprefix(f"$KV.{self.bucket}."), record))
        return records

    def __len__(self) -> int:
        """Keys with a record (results, and claims in progress)."""
        return len(self._records())

    def forget(self, workflow_id: str) -> int:
        """Remove the results (and claims) of a workflow's side effects; how many.

        Reads the whole bucket once (the ``workflow_id`` given to :meth:`run_once` is
        in each record).
        """
        names = [name for name, record in self._records() if record.workflow_id == workflow_id]
        for name in names:
            self._retrying(functools.partial(self._kv.purge, name), "purge a key")
        return len(names)
