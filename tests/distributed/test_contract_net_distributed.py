"""Contract net across processes: calls for proposals and bids cross NATS JetStream."""

from __future__ import annotations

from collections.abc import Callable

from actors import Agent, ChildSpec, ContractNet, Offer, Plan, Task, TaskContext, Team
from actors._orchestration.remote import RemoteAgent
from actors.testing import EventRecorder, check_protocol
from actors.worker import Worker
from bus import Award, Bid, CallForProposals, EventBus, NatsTransport

Transports = Callable[..., NatsTransport]
COSTS = {"cheap": 1.0, "dear": 5.0}


class Bidder(Agent):
    def bid(self, cfp: CallForProposals) -> Offer | None:
        return Offer(cost=COSTS[self.name])

    def handle(self, task: TaskContext) -> object:
        return self.name


def bidder(name: str) -> Callable[[EventBus], list[ChildSpec]]:
    return lambda bus: [Bidder.child_spec(name, bus)]


def test_remote_agents_bid_and_the_cheapest_wins(transports: Transports) -> None:
    for name in COSTS:
        Worker(bidder(name), transport=transports())
    team = Team(
        [RemoteAgent(name, capabilities=["x"]) for name in COSTS],
        transport=transports(),
        contract_net=ContractNet(deadline=5.0),
    )
    rec = EventRecorder(team.bus)
    try:
        result = team.run(Plan(tasks=[Task(id=f"t{i}", agent="x") for i in range(3)]), timeout=20)
    finally:
        team.stop()
    assert result.ok and {t.result for t in result.tasks} == {"cheap"}
    assert {b.agent for b in rec.of_type(Bid)} == set(COSTS)
    assert [a.winner for a in rec.of_type(Award)] == ["cheap"] * 3
    check_protocol(rec.events)
