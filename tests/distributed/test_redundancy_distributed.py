"""Redundancy across processes: replicas of one attempt reach agents over NATS JetStream."""

from __future__ import annotations

import time
from collections.abc import Callable

from actors import Agent, ChildSpec, Plan, Redundancy, Task, TaskContext, Team
from actors._orchestration.remote import RemoteAgent
from actors.testing import EventRecorder, check_protocol
from actors.worker import Worker
from bus import EventBus, NatsTransport, TaskCompleted, TaskStarted

Transports = Callable[..., NatsTransport]
ANSWERS = {"a": 7, "b": 7, "c": 8}


class Reader(Agent):
    def handle(self, task: TaskContext) -> object:
        task.cancellation.wait(0.2)  # the replicas in one worker overlap
        return ANSWERS[self.name]


def readers(*names: str) -> Callable[[EventBus], list[ChildSpec]]:
    return lambda bus: [Reader.child_spec(name, bus) for name in names]


def test_a_vote_of_remote_agents_two_of_them_in_one_worker(transports: Transports) -> None:
    # Two replicas of each attempt land in this worker; a message it did not acknowledge
    # would come back after its ack wait (1 s), and an agent would run a replica twice.
    held = transports(ack_wait=1.0)
    Worker(readers("a", "b"), transport=held)
    Worker(readers("c"), transport=transports())
    team = Team(
        [RemoteAgent(name, capabilities=["reader"]) for name in ANSWERS],
        transport=transports(),
    )
    rec = EventRecorder(team.bus)
    vote = Redundancy(copies=3, decide="vote")
    plan = Plan(tasks=[Task(id=f"t{i}", agent="reader", redundancy=vote) for i in range(3)])
    try:
        result = team.run(plan, timeout=20)
        time.sleep(1.5)  # past the ack wait: a redelivery would have come
        in_progress = held.statistics().in_progress
    finally:
        team.stop()
    assert result.ok and [t.result for t in result.tasks] == [7, 7, 7]
    assert len(rec.of_type(TaskStarted)) == 9
    assert len(rec.of_type(TaskCompleted)) == 9  # each replica ran once: none redelivered
    assert in_progress == 0
    check_protocol(rec.events)
