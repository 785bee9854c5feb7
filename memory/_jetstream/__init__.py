"""The durable parts of :mod:`memory` on NATS JetStream, shared by a team's processes.

Needs nats-py (``pip install 'actorchestra[nats]'``); :mod:`memory` imports this
sub-package only when one of its classes is first used.
"""

from ._kv_store import JetStreamIdempotencyStore as JetStreamIdempotencyStore
from ._stream_log import JetStreamEventLog as JetStreamEventLog

__all__ = ["JetStreamEventLog", "JetStreamIdempotencyStore"]
