"""Redundancy: the per-task cost of a race or a vote against one agent, in the same run.

The plans, agents and rounds of ``bench_contract_net`` (four no-op agents sharing a
capability; a chain of 100 tasks, a fan-out of 400), each task run on one agent
(direct), raced on 2 or 3 (``Redundancy(copies=k)``: the first result wins, the others
are cancelled) or voted on by 3 (majority). ``Limits(max_in_flight=None)``: replicas are
never held back for room. Untraced bus. Run:
``python -m tests.benchmarks.bench_redundancy [--rounds N]`` (pin with ``taskset -c 0``).
Prints medians per task and ratios to direct.
"""

from __future__ import annotations

import argparse
from functools import partial

from actors import Limits, Plan, Redundancy

from ._common import interleaved_medians, machine_note
from .bench_contract_net import AGENTS, PLANS, Worker, timed_per_task

VARIANTS: dict[str, Redundancy | None] = {
    "direct": None,
    "race of 2": Redundancy(copies=2),
    "race of 3": Redundancy(copies=3),
    "vote of 3": Redundancy(copies=3, decide="vote"),
}


def per_task(variant: str, plan_name: str) -> float:
    """Seconds per task of one run of the plan."""
    spec = VARIANTS[variant]
    tasks = tuple(t.model_copy(update={"redundancy": spec}) for t in PLANS[plan_name].tasks)
    return timed_per_task(Worker, Plan(tasks=tasks), limits=Limits(max_in_flight=None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    rounds = parser.parse_args().rounds
    print(f"bench_redundancy: {AGENTS} agents, medians of {rounds} rounds, untraced")
    print(f"  {machine_note()}")
    for plan_name, plan in PLANS.items():
        medians = interleaved_medians(
            list(VARIANTS), rounds, partial(per_task, plan_name=plan_name)
        )
        print(f"  {plan_name} of {len(plan.tasks)} tasks, per task:")
        for variant, median in medians.items():
            ratio = median / medians["direct"]
            print(f"    {variant:10}: {median * 1e6:8.1f} us  ({ratio:.2f}x direct)")


if __name__ == "__main__":
    main()
