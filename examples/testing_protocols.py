# /// script
# requires-python = ">=3.11"
# dependencies = ["actorchestra"]
# ///
"""Property-test your own agents: random plans, injected faults, protocol invariants.

Copy this file next to your tests and put your agents' work in ``my_handler`` (or give
``FaultyAgent`` your own handler per agent). Hypothesis then generates plans (DAGs) and
fault schedules (failures, crashes, hangs past the timeout, slow answers, wrong output)
and checks every run with ``check_protocol``: every task ends exactly once, none starts
before its dependencies completed, attempts stay within bounds, only declared agents are
used. A failure is shrunk to the smallest plan and schedule that still breaks it.

Run it with ``pytest examples/testing_protocols.py`` or ``python examples/testing_protocols.py``.
"""

from __future__ import annotations

import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import Backoff, Limits, Plan, RetryPolicy, TaskContext, Team
from actors.testing import EventRecorder, Faults, FaultyAgent, check_protocol, plans
from bus import EventBus

AGENTS = ["researcher", "writer", "reviewer"]
TIMEOUT = 0.2  # seconds per attempt: short, so hangs are found quickly


def my_handler(task: TaskContext) -> object:
    """Your agent's work: here, a summary of what it was given."""
    return {"task": task.task_id, "used": sorted(task.inputs)}


faults = st.builds(
    Faults,
    raise_=st.floats(0, 0.1),
    crash=st.floats(0, 0.1),
    hang=st.floats(0, 0.03),
    slow=st.floats(0, 0.1),
    wrong_output=st.floats(0, 0.03),
    hang_seconds=st.just(5.0),
    slow_seconds=st.just(0.005),
    seed=st.integers(0, 2**32),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=plans(AGENTS, max_tasks=15), faults=faults)
def test_my_agents_never_lose_a_task(plan: Plan, faults: Faults) -> None:
    bus = EventBus(tracing=False)
    recorder = EventRecorder(bus)
    FaultyAgent.reset()
    team = Team(
        [FaultyAgent.spec(name, bus, my_handler, faults) for name in AGENTS],
        bus=bus,
        limits=Limits(task_timeout=TIMEOUT),
        retry=RetryPolicy(backoff=Backoff(minimum=0.001, maximum=0.01)),
        max_restarts=1000,  # crashes are injected on purpose
    )
    try:
        # Bounded: each task has at most max_attempts attempts of at most TIMEOUT seconds.
        bound = sum(t.max_attempts * (TIMEOUT + 0.02) for t in plan.tasks) + 5
        team.run(plan, timeout=bound)
    finally:
        FaultyAgent.release_all()
        team.stop()
    check_protocol(recorder.events)


if __name__ == "__main__":
    test_my_agents_never_lose_a_task()
    print("25 random plans x fault schedules: every task ended exactly once.")
    sys.exit(0)
