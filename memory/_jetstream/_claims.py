"""Claims on idempotency keys in a JetStream key-value bucket: keys, records, leases.

A key's record is JSON: ``{"state": "pending" | "done", "key", "workflow_id",
"holder", "result"}``. A caller claims a key with the bucket's atomic ``create`` (it
fails if the key exists: NATS docs, "Key/Value Store"), renews its claim while the call
runs with ``update(last=revision)`` (a compare-and-set on the key's revision) every
third of the lease, and ends it with the result (``done``) or a delete. A claim whose
revision did not change for a whole lease is its dead holder's: another caller takes it
over with ``update(last=revision)``, so exactly one of the callers racing for it wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import nats.js.errors

from ._stream_reads import TRANSIENT

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

__all__ = ["Claim", "Lease", "kv_key"]

logger = logging.getLogger(__name__)

_PLAIN = re.compile(r"^[-/_=A-Za-z0-9]{1,200}$")


def kv_key(key: str) -> str:
    """The bucket key of an idempotency key, the same in every process.

    ``k.<key>`` if the key is letters, digits and ``-/_=`` (valid in a KV key, and
    readable in the bucket), else ``h.<SHA-256 hex of its UTF-8>``.

    >>> kv_key("0f" * 32)[:6], kv_key("wf/t1/pay/ab"), kv_key("a b")[:10]
    ('k.0f0f', 'k.wf/t1/pay/ab', 'h.c8687a08')
    """
    if _PLAIN.match(key):
        return f"k.{key}"
    return f"h.{hashlib.sha256(key.encode()).hexdigest()}"


@dataclass(frozen=True, slots=True)
class Claim:
    """One key's record in the bucket."""

    state: Literal["pending", "done"]
    key: str
    workflow_id: str
    holder: str
    result: str | None = None

    def encode(self) -> bytes:
        """The record as the bucket stores it (JSON)."""
        return json.dumps(
            {
                "state": self.state,
                "key": self.key,
                "workflow_id": self.workflow_id,
                "holder": self.holder,
                "result": self.result,
            }
        ).encode()

    @classmethod
    def decode(cls, value: bytes | None) -> Claim | None:
        """A stored record; ``None`` if it is not one (another program's value)."""
        try:
            fields: dict[str, Any] = json.loads(value or b"")
            state = fields["state"]
            if state not in ("pending", "done"):
                return None
            return cls(
                state,
                str(fields["key"]),
                str(fields.get("workflow_id", "")),
                str(fields.get("holder", "")),
                None if fields.get("result") is None else str(fields["result"]),
            )
        except (ValueError, TypeError, KeyError):
            return None


@dataclass(slots=True)
class Lease:
    """A claim held by this process: renewed in the transport's loop until :meth:`end`."""

    kv: KeyValue
    name: str  # the bucket key
    record: Claim
    revision: int
    lost: bool = False
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def start(self, every: float) -> None:
        """Renew the claim every ``every`` seconds (call in the loop)."""
        self._task = asyncio.get_running_loop().create_task(self._keep(every))

    async def _keep(self, every: float) -> None:
        value = self.record.encode()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), every)
                return
            try:
                self.revision = await self.kv.update(self.name, value, last=self.revision)
            except nats.js.errors.KeyWrongLastSequenceError:
                self.lost = True
                logger.warning(
                    "Side effect %s: another process took over its claim (this one renewed "
                    "too late); its call may run twice",
                    self.record.key,
                )
                return
            except TRANSIENT as exc:
                logger.debug("Side effect %s: claim not renewed: %s", self.record.key, exc)

    async def end(self) -> None:
        """Stop renewing (after a renewal in progress ends)."""
        self._stop.set()
        if self._task is not None:
            await self._task
