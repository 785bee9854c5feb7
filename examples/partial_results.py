# /// script
# requires-python = ">=3.11"
# dependencies = ["actorchestra"]
# ///
"""Branches and partial results: the report runs when one analysis fails, and says so.

Four analyses run in parallel; the news feed is down, so ``news`` fails. The report
lists all four as *optional* dependencies: it runs with the three results that exist
and is told which one is missing and why (``task.missing``). The plan's error budget
of 1 lets the workflow complete with that one failure. ``escalate`` has a *condition*
on the risk analysis: it runs only when the risk is high, and is *skipped* otherwise.
Run it with ``--risk high`` to see it run.
"""

from __future__ import annotations

import sys

from actors import Agent, Condition, Plan, Task, TaskContext, TaskError, Team
from bus import EventBus

SECTIONS = ("financial", "legal", "news", "risk")


class Analyst(Agent):
    def handle(self, task: TaskContext) -> object:
        if task.task_id == "news":
            raise TaskError("the news feed is down", retryable=False)
        if task.task_id == "risk":
            return {"level": task.description}
        return f"{task.task_id}: no findings"


class Reporter(Agent):
    def handle(self, task: TaskContext) -> object:
        found = "; ".join(str(v) for v in task.inputs.values())
        missing = ", ".join(f"{k} ({why})" for k, why in task.missing.items())
        return f"Report. Found: {found}. Missing: {missing or 'nothing'}."


def main(argv: list[str]) -> None:
    risk = argv[argv.index("--risk") + 1] if "--risk" in argv else "low"
    plan = Plan(
        tasks=(
            *(Task(id=s, agent="analyst", description=risk) for s in SECTIONS),
            Task(id="report", agent="reporter", depends_on=SECTIONS, optional=SECTIONS),
            Task(
                id="escalate",
                agent="reporter",
                depends_on=("risk",),
                when=Condition(input="risk", path="level", op="eq", value="high"),
            ),
        ),
        error_budget=1,
    )
    bus = EventBus(tracing=False)
    with Team(
        [Analyst.child_spec("analyst", bus), Reporter.child_spec("reporter", bus)], bus=bus
    ) as team:
        result = team.run(plan, timeout=30)
    bus.stop()
    print(result.answer["report"])  # type: ignore[call-overload,index]
    print(f"workflow: {result.status.value}; not completed: {result.missing}")
    print(result.table())


if __name__ == "__main__":
    main(sys.argv[1:])
