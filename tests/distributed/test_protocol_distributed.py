"""The protocol kit, unchanged, against a team whose agents run behind NATS.

The scenarios of ``tests/actors/test_protocol_property.py`` (random DAGs, agent pools,
fault schedules, cancellations, forged outcomes; no LLM agent) run with the faulty agents in a
:class:`Worker` on a transport of its own: every task still ends exactly once
(``check_protocol``), and no side effect runs twice.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from actors import Limits, RemoteAgent, RetryPolicy, Team
from actors.testing import EventRecorder, FaultyAgent, check_protocol
from actors.testing.nats_server import NatsServer
from actors.worker import Worker
from bus import EventRejected, NatsTransport, TaskFinished
from tests.actors.test_protocol_property import (
    BACKOFF,
    TIMEOUT,
    Effects,
    Forger,
    Scenario,
    run_plan,
    scenarios,
)
from tests.distributed.conftest import fresh_namespace


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    with NatsServer() as nats_server:
        yield nats_server


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=scenarios().filter(lambda s: s[3] is None))  # no LLM agent
def test_every_task_ends_exactly_once_with_its_agents_behind_nats(
    server: NatsServer, scenario: Scenario
) -> None:
    agents, plan, faults, _, cancel_after, forge = scenario
    namespace = fresh_namespace()
    FaultyAgent.reset()
    effects = Effects()
    bound = sum(t.max_attempts * (TIMEOUT + BACKOFF.maximum * 1.5) for t in plan.tasks) + 10.0
    worker_transport = NatsTransport(server.url, namespace=namespace, ack_wait=2.0)
    worker = Worker(
        lambda bus: [FaultyAgent.spec(a, bus, effects.work, faults) for a in agents],
        transport=worker_transport,
        max_restarts=10_000,
    )
    transport = NatsTransport(server.url, namespace=namespace, ack_wait=2.0)
    team = Team(
        [RemoteAgent(a) for a in agents],
        transport=transport,
        limits=Limits(task_timeout=TIMEOUT),
        retry=RetryPolicy(backoff=BACKOFF),
    )
    recorder = EventRecorder(team.bus)
    forger = Forger(team.bus, forge, faults.seed)  # forged outcomes, in the team's process
    try:
        result = run_plan(team, plan, cancel_after, bound)
    finally:
        FaultyAgent.release_all()
        team.stop()
        transport.close(drain_timeout=1)
        worker.stop(drain_timeout=1)
    events = recorder.events
    check_protocol(events)
    finished = {e.task_id: e for e in events if isinstance(e, TaskFinished)}
    assert set(finished) == {t.id for t in plan.tasks}
    assert {t.task_id: t.status.value for t in result.tasks} == {
        k: e.status for k, e in finished.items()
    }
    if not any(faults.probabilities()) and cancel_after is None:
        assert result.ok
    assert len(effects.log) == len(set(effects.log))  # no side effect ran twice
    rejected = [e.causation_id for e in events if isinstance(e, EventRejected)]
    assert len(rejected) == len(set(rejected))
    assert set(rejected) <= {e.id for e in forger.forged}
    if cancel_after is None:  # every forgery rejected (after a cancel, some come too late)
        assert sorted(rejected) == sorted(e.id for e in forger.forged)
