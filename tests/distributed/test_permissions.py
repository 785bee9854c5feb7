"""Least privilege across processes: the server refuses what a worker's credentials do not allow."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from actors import Agent, Plan, RemoteAgent, Task, TaskContext, Team
from actors.testing.nats_server import NatsServer, NatsUser
from actors.worker import Worker
from bus import Event, NatsTransport, TaskCompleted
from bus.lowlevel import Envelope, Subjects


class Legal(Agent):
    def handle(self, task: TaskContext) -> object:
        return "reviewed"


@pytest.fixture
def server() -> Iterator[NatsServer]:
    legal = Subjects("t").worker_permissions(["legal"])
    users = [
        NatsUser("team", "team-secret"),
        NatsUser("legal", "legal-secret", publish=legal["publish"], subscribe=legal["subscribe"]),
    ]
    with NatsServer(users=users) as nats_server:
        yield nats_server


def test_a_worker_may_not_publish_another_agents_outcome(server: NatsServer) -> None:
    team_transport = NatsTransport(server.url, namespace="t", user="team", password="team-secret")
    team = Team([RemoteAgent("legal"), RemoteAgent("payments")], transport=team_transport)
    seen: list[Event] = []
    team.bus.subscribe(TaskCompleted, seen.append)
    legal_transport = NatsTransport(
        server.url,
        namespace="t",
        provision=False,
        outage_timeout=2.0,
        user="legal",
        password="legal-secret",
    )
    worker = Worker(lambda bus: [Legal.child_spec("legal", bus)], transport=legal_transport)
    try:
        result = team.run(Plan(tasks=[Task(id="t1", agent="legal")]), timeout=20)
        assert result.ok  # what its credentials allow works
        forged = TaskCompleted(agent="payments", task_id="p1", workflow_id="w", result="stolen")
        assert legal_transport.send("orchestrator", Envelope(forged)) is None  # queued...
        deadline = time.monotonic() + 15
        while legal_transport.statistics().dead_letters == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert legal_transport.statistics().dead_letters == 1  # ...refused by the server
        again = team.run(Plan(tasks=[Task(id="t2", agent="legal")]), timeout=20)
        assert again.ok  # the worker goes on: no letter about the letter, no loop
        assert legal_transport.statistics().dead_letters == 1
        assert [e.agent for e in seen if isinstance(e, TaskCompleted)] == ["legal", "legal"]
    finally:
        team.stop()
        worker.stop(drain_timeout=1)
        team_transport.close(drain_timeout=1)
