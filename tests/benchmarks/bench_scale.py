"""Scheduling cost per task as plans grow: random DAGs of 1,000 to 30,000 no-op tasks.

Each task depends on about two random earlier tasks; 8 no-op agents run them. Linear
scheduling keeps the cost per task flat (target: at 30,000 tasks <= 1.3x the cost at
1,000). Both wall-clock time and CPU time (all threads; it leaves out the time the
shared VM gives to others) are reported. Run: ``python -m tests.benchmarks.bench_scale``
(pin with ``taskset -c 0``).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time

from actors import Agent, Limits, Plan, Task, TaskContext, Team
from bus import EventBus

from ._common import machine_note

AGENTS = [f"agent{i}" for i in range(8)]


class NoOp(Agent):
    def handle(self, task: TaskContext) -> object:
        return None


def random_plan(n: int, seed: int) -> Plan:
    rng = random.Random(seed)
    tasks = []
    for i in range(n):
        k = min(i, 2)
        deps = tuple(f"t{j}" for j in rng.sample(range(i), k)) if k else ()
        tasks.append(Task(id=f"t{i}", agent=AGENTS[i % len(AGENTS)], depends_on=deps))
    return Plan(tasks=tuple(tasks))


def per_task(team: Team, plan: Plan) -> tuple[float, float]:
    """Wall-clock and CPU seconds (all threads of the process) per task of one run."""
    gc.collect()  # garbage of the previous run is not this run's cost
    t0, c0 = time.perf_counter(), time.process_time()
    result = team.run(plan, timeout=600)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert result.ok, result.status
    return elapsed / len(plan.tasks), cpu / len(plan.tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 30_000])
    parser.add_argument("--runs", type=int, default=5, help="runs per size (median)")
    parser.add_argument(
        "--no-timeouts", action="store_true", help="run without per-attempt timeouts"
    )
    args = parser.parse_args()
    print(
        f"random DAGs, ~2 dependencies per task, 8 no-op agents, per-attempt timeouts "
        f"{'off' if args.no_timeouts else 'on'}; {machine_note()}"
    )
    bus = EventBus(tracing=False)
    costs: dict[int, float] = {}
    cpu_costs: dict[int, float] = {}
    timeout = None if args.no_timeouts else 600.0
    specs = [NoOp.child_spec(a, bus) for a in AGENTS]
    with Team(specs, bus=bus, limits=Limits(task_timeout=timeout)) as team:
        per_task(team, random_plan(2_000, 0))  # warm up
        samples: dict[int, list[tuple[float, float]]] = {n: [] for n in args.sizes}
        for i in range(args.runs):  # sizes interleaved, so machine noise hits them alike
            for n in args.sizes:
                # Each plan is made just before its run (off the clock) and dropped after:
                # holding every plan at once (~200,000 pydantic tasks) would make the
                # collector's full passes, not the scheduling, the cost being measured.
                samples[n].append(per_task(team, random_plan(n, i)))
        for n in args.sizes:
            costs[n] = statistics.median(wall for wall, _ in samples[n])
            cpu_costs[n] = statistics.median(cpu for _, cpu in samples[n])
            print(
                f"  {n:>7,} tasks   {costs[n] * 1e6:8.1f} us/task wall, "
                f"{cpu_costs[n] * 1e6:8.1f} us/task CPU (medians of {args.runs})"
            )
    smallest, largest = min(costs), max(costs)
    ratio = costs[largest] / costs[smallest]
    cpu_ratio = cpu_costs[largest] / cpu_costs[smallest]
    print(
        f"  cost per task at {largest:,} / at {smallest:,}: {ratio:.2f}x wall, "
        f"{cpu_ratio:.2f}x CPU  (target <= 1.3x)"
    )


if __name__ == "__main__":
    main()
