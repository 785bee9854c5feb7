"""Contract net under faults: random DAGs over capabilities, bidders that bid late, decline
or crash while bidding, agents that crash or hang while working, cancellations. Every
attempt is awarded at most once and every task ends exactly once (check_protocol); bids
after the award are ignored and counted in the tasks' ``late_bids``."""

from __future__ import annotations

import collections
import hashlib
import random
import threading
import time
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from actors import Backoff, ContractNet, Limits, Offer, Plan, RetryPolicy, TaskContext, Team
from actors.testing import EventRecorder, Faults, FaultyAgent, check_protocol, plans
from bus import Award, Bid, CallForProposals, Event, EventBus, TaskCompleted, TaskFinished
from tests.actors.test_protocol_property import run_plan
from tests.helpers import assert_threads_end

TIMEOUT = 0.2  # seconds per attempt
DEADLINE = 0.02  # seconds of bidding
BACKOFF = Backoff(minimum=0.001, maximum=0.01, jitter=0.5)


class BiddingAgent(FaultyAgent):
    """A faulty agent that also bids: on time, late (past the deadline), not, or crashes."""

    def __init__(self, *, bidding: tuple[float, float, float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._late, self._decline, self._crash = bidding

    def bid(self, cfp: CallForProposals) -> Offer | None:
        key = f"{self._faults.seed}/{cfp.task_id}/{cfp.attempt}/{self.name}".encode()
        x = random.Random(hashlib.blake2b(key, digest_size=8).digest()).random()
        if x < self._crash:
            msg = f"injected crash while bidding for {cfp.task_id}"
            raise RuntimeError(msg)
        if x < self._crash + self._decline:
            return None
        if x < self._crash + self._decline + self._late:
            time.sleep(2 * cfp.deadline)  # answers after the deadline
        return Offer(cost=x * 10 + cfp.load, confidence=1 - x / 2)


def work(task: TaskContext) -> object:
    return {"task": task.task_id}


Scenario = tuple[int, Plan, Faults, tuple[float, float, float], float | None]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    n = draw(st.integers(1, 4))
    agents = [f"agent{i}" for i in range(n)]
    # Tasks name an agent, or the capability "any" (every agent) or "some" (agent0..).
    plan = draw(plans([*agents, "any", "any", "some"], max_tasks=20))
    p = st.floats(0, 0.1)
    faults = Faults(
        raise_=draw(p),
        crash=draw(p),
        hang=draw(st.floats(0, 0.05)),
        slow=draw(p),
        hang_seconds=0.5,
        slow_seconds=0.005,
        seed=draw(st.integers(0, 2**32)),
    )
    bidding = (draw(st.floats(0, 0.5)), draw(st.floats(0, 0.4)), draw(st.floats(0, 0.05)))
    cancel_after = draw(st.none() | st.floats(0.0, 0.3))
    return n, plan, faults, bidding, cancel_after


def late_bounds(events: list[Event]) -> tuple[int, int]:
    """Bids surely counted as late, and bids that may have been: (at least, at most).

    At most: bids not recorded before their call's award (after it, or for a call
    never awarded). At least: bids recorded after their call's award, followed by an
    outcome of the same agent that was applied (its task completed with it): one agent
    publishes both, so the orchestrator took the bid while the workflow still ran.
    """
    awarded: set[str] = set()
    late: list[tuple[int, Bid]] = []
    at_most = 0
    for i, e in enumerate(events):
        if isinstance(e, Award):
            awarded.add(e.cfp_id)
        elif isinstance(e, Bid) and e.cfp_id not in awarded:
            at_most += 1
        elif isinstance(e, Bid):
            at_most += 1
            late.append((i, e))
    finished = {
        (f.task_id, f.attempts, f.agent)
        for f in events
        if isinstance(f, TaskFinished) and f.status == "completed"
    }
    applied = [
        (i, e.agent)
        for i, e in enumerate(events)
        if isinstance(e, TaskCompleted) and (e.task_id, e.attempt, e.agent) in finished
    ]
    at_least = sum(any(j > i and a == b.agent for j, a in applied) for i, b in late)
    return at_least, at_most


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=scenarios())
def test_every_attempt_is_awarded_at_most_once_and_every_task_ends_once(
    scenario: Scenario,
) -> None:
    n, plan, faults, bidding, cancel_after = scenario
    threads_before = threading.active_count()
    bus = EventBus(tracing=False)
    rec = EventRecorder(bus)
    FaultyAgent.reset()
    specs = [
        BiddingAgent.child_spec(
            f"agent{i}",
            bus,
            capabilities=["any", "some"] if i < max(1, n // 2) else ["any"],
            handler=work,
            faults=faults,
            bidding=bidding,
        )
        for i in range(n)
    ]
    bound = sum(t.max_attempts * (TIMEOUT + DEADLINE * 3 + 0.02) for t in plan.tasks) + 5.0
    team = Team(
        specs,
        bus=bus,
        limits=Limits(task_timeout=TIMEOUT),
        retry=RetryPolicy(backoff=BACKOFF),
        contract_net=ContractNet(deadline=DEADLINE),
        max_restarts=10_000,  # crashes are injected on purpose: never escalate here
    )
    try:
        result = run_plan(team, plan, cancel_after, bound)
    finally:
        FaultyAgent.release_all()
        team.stop()
        bus.stop()
    assert_threads_end(threads_before)
    events = rec.events
    check_protocol(events)
    finished = collections.Counter(e.task_id for e in events if isinstance(e, TaskFinished))
    assert finished == dict.fromkeys((t.id for t in plan.tasks), 1)
    awards = collections.Counter((e.task_id, e.attempt) for e in events if isinstance(e, Award))
    assert all(count == 1 for count in awards.values())
    calls = {(e.task_id, e.attempt) for e in events if isinstance(e, CallForProposals)}
    assert set(awards) <= calls
    at_least, at_most = late_bounds(events)
    counted = sum(t.late_bids for t in result.tasks)
    assert at_least <= counted <= at_most, (at_least, counted, at_most)
    event(f"late bids counted: {min(counted, 3)}{'+' if counted > 3 else ''}")
    event(f"fallback awards: {min(sum(e.fallback for e in events if isinstance(e, Award)), 1)}")
