"""Fixtures shared by every test: actor cleanup, span capture, an offline LLM guard, NATS."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pykka
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actors.testing.nats_server import NatsServer
from bus import EventBus
from tests.integration.llama_server import llama_server_binary

if TYPE_CHECKING:
    from bus import NatsTransport

PAID_LLM_ENV = ("REAL_OPENAI_BASE_URL", "REAL_OPENAI_API_KEY")

# Benchmarks are scripts (python -m tests.benchmarks.<name>), some needing the [bench]
# extra's peers: never collected, not even for doctests.
collect_ignore_glob = ["benchmarks/*"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip ``paid_llm`` and ``llama_cpp`` tests unless their endpoint (or server) is there."""
    missing = [name for name in PAID_LLM_ENV if not os.environ.get(name)]
    if missing:
        skip = pytest.mark.skip(reason=f"paid_llm: set {' and '.join(missing)} to run it")
        for item in items:
            if item.get_closest_marker("paid_llm") is not None:
                item.add_marker(skip)
    if not os.environ.get("LLAMA_CPP_BASE_URL") and llama_server_binary() is None:
        reason = "llama_cpp: set LLAMA_CPP_BASE_URL, or LLAMA_SERVER (or put llama-server on PATH)"
        skip = pytest.mark.skip(reason=reason)
        for item in items:
            if item.get_closest_marker("llama_cpp") is not None:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    """Every test ends with no actor left running."""
    yield
    pykka.ActorRegistry.stop_all(block=True, timeout=10)


@pytest.fixture(autouse=True)
def _no_real_llm(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real model endpoint is never called from tests: default clients hit a closed port."""
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "no-real-calls-in-tests")
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """Finished spans of the ``tracer_provider`` fixture."""
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(spans: InMemorySpanExporter) -> Iterator[TracerProvider]:
    """A tracer provider that records every span in memory (not installed globally)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    yield provider
    provider.shutdown()


@pytest.fixture
def bus() -> Iterator[EventBus]:
    """An untraced bus, stopped after the test."""
    b = EventBus(tracing=False)
    yield b
    b.stop()


@pytest.fixture
def traced_bus(tracer_provider: TracerProvider) -> Iterator[EventBus]:
    """A bus whose spans go to the ``spans`` fixture."""
    b = EventBus(tracer_provider=tracer_provider)
    yield b
    b.stop()


@pytest.fixture(scope="module")
def nats_server() -> Iterator[NatsServer]:
    """A real ``nats-server -js`` on loopback, shared by a module's tests."""
    with NatsServer() as server:
        yield server


@pytest.fixture
def nats_namespace() -> str:
    """A namespace of this test's own on the shared server (streams, buckets, subjects)."""
    return f"t{uuid.uuid4().hex[:16]}"


@pytest.fixture
def transports(
    nats_server: NatsServer, nats_namespace: str
) -> Iterator[Callable[..., NatsTransport]]:
    """Makes transports on ``nats_server`` in ``nats_namespace``; closes them after the test."""
    from bus import NatsTransport

    made: list[NatsTransport] = []

    def make(**options: Any) -> NatsTransport:
        options = {"namespace": nats_namespace, "connect_timeout": 2.0} | options
        transport = NatsTransport(nats_server.url, **options)  # type: ignore[arg-type]
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close(drain_timeout=0)
