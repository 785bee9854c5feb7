"""The NATS connection of a transport: options, credentials, and what it logs and counts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nats

from ._nats_counters import Counters

if TYPE_CHECKING:
    from nats.aio.client import Client

__all__ = ["Credentials", "connect"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Credentials:
    """How a process authenticates to NATS (NATS docs, "Authentication").

    A user and password, a token, or a ``.creds`` file (JWT and NKey seed); all
    ``None``: no authentication.
    """

    user: str | None = None
    password: str | None = None
    token: str | None = None
    file: str | Path | None = None


async def connect(
    servers: Sequence[str],
    credentials: Credentials,
    counters: Counters,
    *,
    name: str | None,
    timeout: float,
    reconnect_attempts: int,
    reconnect_wait: float,
) -> Client:
    """Connect to ``servers``; errors and reconnections are logged and counted.

    After losing the server it reconnects ``reconnect_attempts`` times at most,
    ``reconnect_wait`` seconds apart.

    Raises:
        Exception: Whatever nats-py raises when no server answers within ``timeout`` s.
    """
    where = ", ".join(servers)

    async def on_error(exc: Exception) -> None:
        logger.warning("NATS: %s: %s", type(exc).__name__, exc)

    async def on_disconnected() -> None:
        if not client.is_closed:
            logger.warning("NATS: disconnected from %s; reconnecting", where)

    async def on_reconnected() -> None:
        counters.reconnects += 1
        logger.info("NATS: reconnected to %s", client.connected_url)

    options: dict[str, Any] = {
        "servers": list(servers),
        "name": name,
        "connect_timeout": timeout,
        "allow_reconnect": True,
        "max_reconnect_attempts": reconnect_attempts,
        "reconnect_time_wait": reconnect_wait,
        "error_cb": on_error,
        "reconnected_cb": on_reconnected,
        "disconnected_cb": on_disconnected,
    }
    if credentials.user is not None:
        options |= {"user": credentials.user, "password": credentials.password}
    if credentials.token is not None:
        options["token"] = credentials.token
    if credentials.file is not None:
        options["user_credentials"] = str(credentials.file)
    client: Client = await nats.connect(**options)
    return client
