"""Contract-net routing: announcement, bids, one award per attempt, fallback, late bids."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actors import (
    Agent,
    ConfigurationError,
    ContractNet,
    Offer,
    Plan,
    Task,
    TaskContext,
    TaskError,
    TaskResult,
    TaskStatus,
    Team,
    WorkflowResult,
)
from actors.testing import EventRecorder, check_protocol
from bus import Award, Bid, CallForProposals, EventBus, TaskFinished, TaskStarted


class Bidder(Agent):
    """Offers ``cost`` (``None``: declines); its bid waits for ``gate`` if one is given."""

    def __init__(
        self,
        *,
        name: str,
        bus: EventBus,
        cost: float | None = None,
        confidence: float = 1.0,
        gate: threading.Event | None = None,
        fail_first: bool = False,
    ) -> None:
        super().__init__(name=name, bus=bus)
        self.cost = cost
        self.confidence = confidence
        self.gate = gate
        self.fail_first = fail_first

    def bid(self, cfp: CallForProposals) -> Offer | None:
        if self.gate is not None:
            assert self.gate.wait(5.0)
        if self.cost is None:
            return None
        return Offer(cost=self.cost, confidence=self.confidence)

    def handle(self, task: TaskContext) -> object:
        if self.fail_first and task.attempt == 1:
            raise TaskError("first attempt fails", retryable=True)
        return self.name


def task_of(result: WorkflowResult, task_id: str) -> TaskResult:
    (found,) = [t for t in result.tasks if t.task_id == task_id]
    return found


def team_of(bus: EventBus, net: ContractNet | None, **bidders: Mapping[str, Any]) -> Team:
    specs = [Bidder.child_spec(n, bus, capabilities=["x"], **kw) for n, kw in bidders.items()]
    return Team(specs, bus=bus, contract_net=net)


def test_the_lowest_cost_wins_and_every_step_is_an_event_and_a_span(
    traced_bus: EventBus, spans: InMemorySpanExporter
) -> None:
    rec = EventRecorder(traced_bus)
    net = ContractNet(deadline=5.0)
    with team_of(traced_bus, net, a={"cost": 5.0}, b={"cost": 2.0}, c={"cost": 9.0}) as team:
        result = team.run(Plan(tasks=[Task(id="t", agent="x", description="audit")]))
    assert result.ok and result.answer == "b"
    calls = rec.of_type(CallForProposals)
    assert sorted(c.agent for c in calls) == ["a", "b", "c"]
    assert len({c.cfp_id for c in calls}) == 1 and calls[0].description == "audit"
    assert sorted(b.agent for b in rec.of_type(Bid)) == ["a", "b", "c"]
    (award,) = rec.of_type(Award)
    assert (award.winner, sorted(award.losers), award.score) == ("b", ["a", "c"], 2.0)
    assert not award.fallback and award.bids == 3
    assert [s.agent for s in rec.of_type(TaskStarted)] == ["b"]
    check_protocol(rec.events)
    (workflow,) = [s for s in spans.get_finished_spans() if s.name.startswith("invoke_workflow")]
    names = [e.name for e in workflow.events]
    assert names.index("contract_net.announce") < names.index("contract_net.award")
    traces = {s.context.trace_id for s in spans.get_finished_spans() if "bid" in s.name}
    assert traces == {workflow.context.trace_id}  # the bids' hops are in the workflow's trace


def test_a_custom_scoring_rule_decides(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    net = ContractNet(deadline=5.0, score=lambda bid: -bid.confidence)  # most confident
    bidders = {"a": {"cost": 1.0, "confidence": 0.2}, "b": {"cost": 8.0, "confidence": 0.9}}
    with team_of(bus, net, **bidders) as team:
        result = team.run(Plan(tasks=[Task(id="t", agent="x")]))
    assert result.answer == "b"
    assert rec.of_type(Award)[0].score == -0.9
    check_protocol(rec.events)


def test_decliners_never_win(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    tasks = [Task(id=f"t{i}", agent="x") for i in range(6)]
    with team_of(bus, ContractNet(deadline=5.0), a={}, b={"cost": 100.0}, c={}) as team:
        result = team.run(Plan(tasks=tasks))
    assert {t.agent for t in result.tasks} == {"b"}
    assert all(a.winner == "b" and not a.fallback for a in rec.of_type(Award))
    assert sum(b.declined for b in rec.of_type(Bid)) == 12
    check_protocol(rec.events)


def test_with_no_bid_in_time_the_least_loaded_candidate_gets_it(bus: EventBus) -> None:
    """Agent a is busy (so answers late), b declines: the attempt falls back to b."""
    rec = EventRecorder(bus)
    release = threading.Event()

    class Busy(Agent):
        def handle(self, task: TaskContext) -> object:
            assert release.wait(5.0)
            return "busy"

    specs = [
        Busy.child_spec("a", bus, capabilities=["x"]),
        Bidder.child_spec("b", bus, capabilities=["x"]),
    ]
    plan = Plan(
        tasks=[Task(id="hold", agent="a", routing="direct"), Task(id="t", agent="x", priority=-1)]
    )
    with Team(specs, bus=bus, contract_net=ContractNet(deadline=0.05)) as team:
        future = team.submit(plan)
        assert rec.wait_for(lambda es: any(isinstance(e, TaskFinished) for e in es))
        release.set()
        result = future.get(timeout=5.0)
    (award,) = rec.of_type(Award)
    assert award.fallback and award.winner == "b" and award.score is None and award.bids == 0
    assert result.ok and task_of(result, "t").agent == "b"
    check_protocol(rec.events)


def test_a_late_bid_is_ignored_and_counted(bus: EventBus) -> None:
    """Agent slow bids after the deadline (its bid waits for the award): it cannot win."""
    rec = EventRecorder(bus)
    gate = threading.Event()
    plan = Plan(
        tasks=[
            Task(id="t", agent="x"),
            # slow runs u after its late bid: the bid reaches the orchestrator first
            Task(id="u", agent="slow", depends_on=("t",), routing="direct"),
        ]
    )
    bidders: dict[str, dict[str, Any]] = {
        "fast": {"cost": 9.0},
        "slow": {"cost": 1.0, "gate": gate},
    }
    with team_of(bus, ContractNet(deadline=0.05), **bidders) as team:
        future = team.submit(plan)
        assert rec.wait_for(lambda es: any(isinstance(e, Award) for e in es))
        gate.set()
        result = future.get(timeout=5.0)
    (award,) = rec.of_type(Award)
    assert award.winner == "fast" and award.bids == 1
    late = [b for b in rec.of_type(Bid) if b.agent == "slow"]
    assert len(late) == 1 and rec.events.index(late[0]) > rec.events.index(award)
    assert task_of(result, "t").agent == "fast" and task_of(result, "t").late_bids == 1
    check_protocol(rec.events)


def test_a_retry_announces_again(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    bidders = {"a": {"cost": 1.0, "fail_first": True}, "b": {"cost": 3.0}}
    with team_of(bus, ContractNet(deadline=5.0), **bidders) as team:
        result = team.run(Plan(tasks=[Task(id="t", agent="x", max_attempts=2)]))
    assert result.ok and task_of(result, "t").attempts == 2
    awards = rec.of_type(Award)
    assert [a.attempt for a in awards] == [1, 2]
    assert awards[0].cfp_id != awards[1].cfp_id
    assert [c.attempt for c in rec.of_type(CallForProposals)] == [1, 1, 2, 2]
    check_protocol(rec.events)


def test_a_workflow_cancelled_while_bidding_awards_nothing_later(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    gate = threading.Event()
    with team_of(bus, ContractNet(deadline=0.2), a={"cost": 1.0, "gate": gate}) as team:
        future = team.submit(Plan(tasks=[Task(id="t", agent="x")]), workflow_id="wf")
        assert rec.wait_for(lambda es: any(isinstance(e, CallForProposals) for e in es))
        team.cancel("wf", "changed my mind")
        result = future.get(timeout=5.0)
        assert task_of(result, "t").status is TaskStatus.CANCELLED
        gate.set()
        assert rec.wait_for(lambda es: any(isinstance(e, Bid) for e in es))
        # past the deadline: neither the bid nor the timer awards anything
        assert not rec.wait_for(lambda es: any(isinstance(e, Award) for e in es), timeout=0.4)
    assert not rec.of_type(TaskStarted)
    check_protocol(rec.events)


def test_routing_is_chosen_per_task(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    plan = Plan(
        tasks=[
            Task(id="marked", agent="x", routing="contract_net"),
            Task(id="default", agent="x"),
            Task(id="direct", agent="x", routing="direct"),
        ]
    )
    with team_of(bus, None, a={"cost": 1.0}, b={"cost": 2.0}) as team:  # no team default
        assert team.run(plan).ok
    with team_of(bus, ContractNet(tasks="all"), a={"cost": 1.0}, b={"cost": 2.0}) as team:
        assert team.run(plan).ok
    announced = [c.task_id for c in rec.of_type(CallForProposals)]
    assert announced == ["marked"] * 2 + ["marked"] * 2 + ["default"] * 2
    check_protocol(rec.events)


def test_a_deadline_must_be_positive() -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"^ContractNet deadline is 0; give a positive number of seconds\.$",
    ):
        ContractNet(deadline=0)
