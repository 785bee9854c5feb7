# /// script
# requires-python = ">=3.11"
# dependencies = ["actorchestra"]
# ///
"""An elastic pool: analysts scale from 1 to 8 under a burst of work, then back to 1.

Forty filings arrive at once; each takes an analyst 0.1 s. The pool starts with one
member; tasks waiting for a member make it grow (up to 8), and members idle for 0.3 s
leave (down to 1), only when they run nothing. The pool's size over time is printed
from its ``AgentJoined``/``AgentLeft`` events.
"""

from __future__ import annotations

import time

from actors import Agent, AgentPool, Limits, Plan, Task, TaskContext, Team
from bus import AgentJoined, AgentLeft, Event, EventBus


class Analyst(Agent):
    def handle(self, task: TaskContext) -> object:
        task.cancellation.wait(0.1)  # reading the filing
        return f"{task.description}: read"


def main() -> None:
    bus = EventBus(tracing=False)
    started = time.monotonic()
    changes: list[tuple[float, Event]] = []
    for kind in (AgentJoined, AgentLeft):
        bus.subscribe(kind, lambda e: changes.append((time.monotonic() - started, e)))
    pool = AgentPool(
        "analysts", lambda member: Analyst.child_spec(member, bus), max_size=8, scale_down_after=0.3
    )
    plan = Plan(
        tasks=[Task(id=f"f{i}", agent="analysts", description=f"filing {i}") for i in range(40)]
    )
    with Team([pool], bus=bus, limits=Limits(max_in_flight=1)) as team:
        result = team.run(plan, timeout=60)
        took = time.monotonic() - started
        deadline = time.monotonic() + 10
        while sum(isinstance(e, AgentLeft) for _, e in changes) < 7 and time.monotonic() < deadline:
            time.sleep(0.05)
    bus.stop()
    print(f"{len(result.tasks)} filings read in {took:.2f} s (0.1 s each): {result.status.value}")
    size = 1
    for at, change in changes:
        size += 1 if isinstance(change, AgentJoined) else -1
        print(f"{at:5.2f} s  {change.type:17}  {getattr(change, 'agent', '')!s:12}  size {size}")
    print(f"members that worked: {len({t.agent for t in result.tasks})}; final size: {size}")


if __name__ == "__main__":
    main()
