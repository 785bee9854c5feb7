"""Fixtures for tests across processes: a real nats-server, transports that are closed."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from actors.testing.nats_server import NatsServer
from bus import NatsTransport

_NAMESPACES = itertools.count()


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    """``nats-server -js`` on 127.0.0.1 with a temporary store, for this test only."""
    with NatsServer() as server:
        yield server


@pytest.fixture
def transports(nats_server: NatsServer) -> Iterator[Callable[..., NatsTransport]]:
    """Makes transports to ``nats_server`` (short ack wait), all closed after the test."""
    made: list[NatsTransport] = []

    def make(**options: Any) -> NatsTransport:
        options.setdefault("ack_wait", 2.0)
        options.setdefault("namespace", "t")
        transport = NatsTransport(nats_server.url, **options)
        made.append(transport)
        return transport

    yield make
    for transport in reversed(made):
        transport.close(drain_timeout=1.0)


def fresh_namespace() -> str:
    """A namespace no other test of this process used."""
    return f"ns{next(_NAMESPACES)}"
