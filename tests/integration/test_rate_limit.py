"""A team shares one endpoint's rate limit: no 429 from a server that enforces it."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actors import (
    Endpoints,
    LLMAgent,
    Plan,
    Planner,
    RateLimit,
    RetryPolicy,
    Task,
    TaskStatus,
    Team,
)
from actors._agents.chat import chat
from actors.testing import FakeLLMServer, Reply, ServerRateLimit
from bus import EventBus

AGENTS = [f"analyst{i}" for i in range(20)]


def team_responder(request: dict[str, Any]) -> Reply:
    """The planner gets a plan of one task per analyst; each analyst a short answer."""
    if request.get("response_format"):
        return Reply.json({"tasks": [{"id": f"t{i}", "agent": a} for i, a in enumerate(AGENTS)]})
    return Reply.text("done")


@pytest.mark.parametrize("limited", [True, False])
def test_twenty_agents_and_the_planner_share_the_limit_without_a_429(
    bus: EventBus, limited: bool
) -> None:
    server_limit = ServerRateLimit(requests=8, window=0.5)
    with FakeLLMServer(team_responder, rate_limit=server_limit) as server:
        # The same limit as the server's, configured once for its base URL.
        limits = {server.base_url: RateLimit(requests=8, window=0.5)} if limited else {}
        endpoints = Endpoints(rate_limits=limits)
        client = server.client(timeout=10)
        specs = [
            LLMAgent.child_spec(a, bus, client=client, model="m", endpoints=endpoints)
            for a in AGENTS
        ]
        planner = Planner(client, "m", dict.fromkeys(AGENTS, "analyses"), endpoints=endpoints)
        with Team(specs, bus=bus, retry=RetryPolicy(backoff=None)) as team:
            plan = planner.plan("analyse", timeout=10)
            result = team.run(plan, timeout=30)
    if limited:
        assert server_limit.refused == 0
        assert server_limit.admitted == 21  # the plan and 20 answers, one request each
        assert all(t.status is TaskStatus.COMPLETED for t in result.tasks)
        limiter = endpoints.rate_limiter(server.base_url)
        assert limiter is not None
        assert limiter.statistics().requests == 21
        assert limiter.statistics().waited > 0
    else:  # the test can fail: the same team without the limiter meets 429s
        assert server_limit.refused > 0


@pytest.mark.parametrize("learn", [True, False])
def test_a_limit_learned_from_the_headers_holds_the_next_request(
    bus: EventBus, learn: bool
) -> None:
    server_limit = ServerRateLimit(requests=3, window=1.0)
    with FakeLLMServer(lambda _r: Reply.text("ok"), rate_limit=server_limit) as server:
        # Nothing configured: RateLimit() learns from x-ratelimit-* alone.
        endpoints = Endpoints(rate_limits={server.base_url: RateLimit()} if learn else {})
        spec = LLMAgent.child_spec(
            "writer", bus, client=server.client(), model="m", endpoints=endpoints, max_retries=0
        )
        tasks = [Task(id=f"t{i}", agent="writer", max_attempts=1) for i in range(5)]
        with Team([spec], bus=bus) as team:
            result = team.run(Plan(tasks=tasks), timeout=20)
    if learn:
        assert server_limit.refused == 0
        assert all(t.status is TaskStatus.COMPLETED for t in result.tasks)
    else:
        assert server_limit.refused > 0


def test_cancelling_a_workflow_ends_its_wait_for_a_turn(bus: EventBus) -> None:
    with FakeLLMServer(lambda _r: Reply.text("ok")) as server:
        endpoints = Endpoints(rate_limits={server.base_url: RateLimit(requests=1, window=60)})
        spec = LLMAgent.child_spec(
            "writer", bus, client=server.client(), model="m", endpoints=endpoints
        )
        with Team([spec], bus=bus) as team:
            first = team.run(Plan(tasks=(Task(id="t1", agent="writer"),)), timeout=10)
            # The window's one request is spent: the next call waits up to a minute.
            future = team.submit(Plan(tasks=(Task(id="t2", agent="writer"),)), workflow_id="w")
            limiter = endpoints.rate_limiter(server.base_url)
            assert limiter is not None
            time.sleep(0.3)  # let the call start waiting
            cancelled_at = time.monotonic()
            team.cancel("w", "the user left")
            result = future.get(timeout=10)
            took = time.monotonic() - cancelled_at
    assert first.tasks[0].status is TaskStatus.COMPLETED
    assert result.tasks[0].status is TaskStatus.CANCELLED
    assert len(server.requests) == 1
    assert took < 5.0  # not the minute of the window


def test_the_wait_is_on_the_chat_span(traced_bus: EventBus, spans: InMemorySpanExporter) -> None:
    with FakeLLMServer(lambda _r: Reply.text("ok")) as server:
        endpoints = Endpoints(rate_limits={server.base_url: RateLimit(requests=1, window=0.3)})
        spec = LLMAgent.child_spec(
            "writer", traced_bus, client=server.client(), model="m", endpoints=endpoints
        )
        tasks = [Task(id=f"t{i}", agent="writer") for i in range(2)]
        with Team([spec], bus=traced_bus) as team:
            result = team.run(Plan(tasks=tasks), timeout=10)
    assert all(t.status is TaskStatus.COMPLETED for t in result.tasks)
    chats = [s for s in spans.get_finished_spans() if s.name == "chat m"]
    waits: list[float] = []
    for span in chats:
        waited = (span.attributes or {})["actorchestra.llm.rate_limit.wait"]
        assert isinstance(waited, float)
        waits.append(waited)
    waits.sort()
    assert len(waits) == 2
    assert waits[0] == pytest.approx(0.0, abs=0.05)
    assert waits[1] > 0.1  # the second request waited for the first one's window


def test_concurrent_callers_never_exceed_the_window(bus: EventBus) -> None:
    del bus
    server_limit = ServerRateLimit(requests=5, window=0.4)
    with FakeLLMServer(lambda _r: Reply.text("ok"), rate_limit=server_limit) as server:
        endpoints = Endpoints(rate_limits={server.base_url: RateLimit(requests=5, window=0.4)})
        limiter = endpoints.rate_limiter(server.base_url)
        assert limiter is not None
        client = server.client()

        def call() -> None:
            for _ in range(3):
                permit, _waited = limiter.acquire(1)
                response = client.chat.completions.with_raw_response.create(
                    model="m", messages=[{"role": "user", "content": "hi"}]
                )
                limiter.answered(permit, 1, response.headers)

        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert (server_limit.admitted, server_limit.refused) == (18, 0)


def test_streamed_calls_wait_their_turn_and_learn_too() -> None:
    server_limit = ServerRateLimit(requests=2, window=0.5)
    with FakeLLMServer(lambda _r: Reply.text("hello there"), rate_limit=server_limit) as server:
        endpoints = Endpoints(rate_limits={server.base_url: RateLimit(requests=2, window=0.5)})
        pieces: list[str] = []
        for _ in range(5):
            message, _usage = chat(
                server.client(),
                trace.get_tracer(__name__),
                model="m",
                messages=[{"role": "user", "content": "hi"}],
                agent="a",
                endpoints=endpoints,
                stream=True,
                on_delta=pieces.append,
            )
            assert message.content == "hello there"
        limiter = endpoints.rate_limiter(server.base_url)
    assert (server_limit.admitted, server_limit.refused) == (5, 0)
    assert limiter is not None
    assert limiter.statistics().requests == 5
