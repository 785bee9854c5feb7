"""Elastic pools: scale-up latency, and a burst on an elastic pool against fixed ones.

A burst of 64 tasks of 20 ms each lands on a pool of one analyst allowed to grow to 8.
Measured, per round: seconds from submitting the burst until the 8th member joined
(the scale-up latency: the pool's look at the waiting room every ``interval``, the
threshold ``scale_up_after``, starting the members, the orchestrator taking them in),
and the burst's wall time, against the same burst on a fixed pool of 8 members and on
one agent, in the same run. Run: ``python -m tests.benchmarks.bench_pool [--rounds N]``
(pin with ``taskset -c 0``). Prints medians and ratios.
"""

from __future__ import annotations

import argparse
import threading
import time

from actors import Agent, AgentPool, Limits, Plan, Task, TaskContext, Team
from bus import AgentJoined, EventBus

from ._common import machine_note

TASKS, SECONDS, MAX = 64, 0.02, 8
PLAN = Plan(tasks=tuple(Task(id=f"t{i}", agent="pool", description="") for i in range(TASKS)))


class Analyst(Agent):
    def handle(self, task: TaskContext) -> object:
        task.cancellation.wait(SECONDS)
        return task.task_id


def burst(min_size: int, max_size: int) -> tuple[float, float]:
    """One burst: (seconds until the pool had ``max_size`` members, burst wall time)."""
    bus = EventBus(tracing=False)
    full = threading.Event()
    joined: list[float] = []
    started = 0.0

    def on_join(_: AgentJoined) -> None:
        joined.append(time.perf_counter() - started)
        if min_size + len(joined) >= max_size:
            full.set()

    bus.subscribe(AgentJoined, on_join)
    pool = AgentPool(
        "pool", lambda m: Analyst.child_spec(m, bus), min_size=min_size, max_size=max_size
    )
    with Team([pool], bus=bus, limits=Limits(max_in_flight=1)) as team:
        started = time.perf_counter()
        result = team.run(PLAN, timeout=60)
        wall = time.perf_counter() - started
    bus.stop()
    assert result.ok
    scale_up = joined[-1] if min_size < max_size and full.is_set() else 0.0
    return scale_up, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    rounds = parser.parse_args().rounds
    runs = {name: [burst(*sizes) for _ in range(rounds)] for name, sizes in VARIANTS.items()}
    scale_up = sorted(r[0] for r in runs["elastic 1..8"])[rounds // 2]
    walls = {name: sorted(w for _, w in r)[rounds // 2] for name, r in runs.items()}
    print(f"bench_pool: {TASKS} tasks of {SECONDS * 1000:.0f} ms, medians of {rounds} rounds")
    print(f"  {machine_note()}")
    print(f"  scale-up latency, 1 -> {MAX} members: {scale_up * 1000:7.1f} ms")
    for name, wall in walls.items():
        ratio = wall / walls[f"fixed {MAX}"]
        print(f"  burst wall time, {name:13}: {wall * 1000:7.1f} ms  ({ratio:.2f}x fixed {MAX})")


VARIANTS = {"elastic 1..8": (1, MAX), f"fixed {MAX}": (MAX, MAX), "one agent": (1, 1)}

if __name__ == "__main__":
    main()
