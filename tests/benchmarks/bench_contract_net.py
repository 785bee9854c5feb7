"""Contract net: the per-task cost of an award against direct routing, in the same run.

Four no-op agents share a capability. The same plans run with direct routing (the
least-loaded agent), with contract net where every agent bids, and with contract net
where every agent declines (``Agent.bid``'s default: the award falls back to the least
loaded once all declined). Two plans: a chain of tasks (each waits for the previous:
the latency an award adds to one task) and a fan-out of independent tasks (throughput:
announcements, bids and awards of many tasks interleave). The deadline (1 s) is never
reached: every agent answers. Untraced bus. Run:
``python -m tests.benchmarks.bench_contract_net [--rounds N]`` (pin with
``taskset -c 0``). Prints medians per task and ratios to direct routing.
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from typing import Any

from actors import Agent, ContractNet, Offer, Plan, Task, TaskContext, Team
from bus import CallForProposals, EventBus

from ._common import interleaved_medians, machine_note

AGENTS, CHAIN, FAN_OUT = 4, 100, 400
PLANS = {
    "chain": Plan(
        tasks=tuple(
            Task(id=f"t{i}", agent="x", depends_on=(f"t{i - 1}",) if i else ())
            for i in range(CHAIN)
        )
    ),
    "fan-out": Plan(tasks=tuple(Task(id=f"t{i}", agent="x") for i in range(FAN_OUT))),
}


class Worker(Agent):
    def handle(self, task: TaskContext) -> object:
        return None


class Bidder(Worker):
    def bid(self, cfp: CallForProposals) -> Offer | None:
        return Offer(cost=len(self.name) + cfp.load)


VARIANTS: dict[str, tuple[type[Agent], ContractNet | None]] = {
    "direct": (Worker, None),
    "contract net, all bid": (Bidder, ContractNet(deadline=1.0)),
    "contract net, all decline": (Worker, ContractNet(deadline=1.0)),
}


def per_task(variant: str, plan_name: str) -> float:
    """Seconds per task of one run of the plan."""
    agent, net = VARIANTS[variant]
    return timed_per_task(agent, PLANS[plan_name], contract_net=net)


def timed_per_task(agent: type[Agent], plan: Plan, **team: Any) -> float:
    """Seconds per task of ``plan``'s second run by a ``Team(**team)`` of ``AGENTS`` agents."""
    bus = EventBus(tracing=False)
    specs = [agent.child_spec(f"a{i}", bus, capabilities=["x"]) for i in range(AGENTS)]
    with Team(specs, bus=bus, **team) as running:
        running.run(plan, timeout=60)  # warm-up
        started = time.perf_counter()
        result = running.run(plan, timeout=60)
        took = time.perf_counter() - started
    bus.stop()
    assert result.ok
    return took / len(plan.tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    rounds = parser.parse_args().rounds
    print(f"bench_contract_net: {AGENTS} agents, medians of {rounds} rounds, untraced")
    print(f"  {machine_note()}")
    for plan_name, plan in PLANS.items():
        medians = interleaved_medians(
            list(VARIANTS), rounds, partial(per_task, plan_name=plan_name)
        )
        print(f"  {plan_name} of {len(plan.tasks)} tasks, per task:")
        for variant, median in medians.items():
            ratio = median / medians["direct"]
            extra = (median - medians["direct"]) * 1e6
            print(
                f"    {variant:26}: {median * 1e6:8.1f} us  ({ratio:.2f}x direct, {extra:+.1f} us)"
            )


if __name__ == "__main__":
    main()
