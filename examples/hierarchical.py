# /// script
# requires-python = ">=3.11"
# dependencies = ["actorchestra"]
# ///
"""Hierarchical delegation: a lead splits a report into sections for a writer, who splits
the biggest section again.

    python examples/hierarchical.py [--spans]

The lead does not wait for the writer: it returns ``Delegate(plan)``, a sub-plan, and is
free at once (so the sub-plan can give the lead work too: it assembles the sections).
The sub-plan runs as a child workflow of the lead's task, which completes with the
child's answer. Cancelling the workflow, a task's timeout, the budget and ``max_steps``
reach every child. The result is a tree: its table shows each child workflow's tasks
indented under the task that delegated to them. With ``--spans``, the trace: each
child's ``invoke_workflow`` span inside its parent's.
"""

from __future__ import annotations

import sys

from actors import Agent, Delegate, Plan, Task, TaskContext, Team
from actors.telemetry import format_span_tree, setup_telemetry
from bus import EventBus

SECTIONS = {"market": "grows 8 % a year", "team": "40 people, low churn"}
RISKS = {"legal": "one open lawsuit", "supply": "two suppliers"}


class Lead(Agent):
    def handle(self, task: TaskContext) -> object:
        if task.task_id == "assemble":  # the last task of its own sub-plan
            return "; ".join(f"{s}: {task.inputs[s]}" for s in sorted(task.inputs))
        drafts = [Task(id=s, agent="writer") for s in [*SECTIONS, "risks"]]
        assemble = Task(id="assemble", agent="lead", depends_on=tuple(t.id for t in drafts))
        return Delegate(Plan(tasks=[*drafts, assemble]), reason="one task per section")


class Writer(Agent):
    def handle(self, task: TaskContext) -> object:
        if task.task_id == "risks":  # too big for one task: split it again
            return Delegate(Plan(tasks=[Task(id=r, agent="writer") for r in RISKS]))
        return SECTIONS.get(task.task_id) or RISKS[task.task_id]


def main(argv: list[str]) -> None:
    telemetry = setup_telemetry("hierarchical", keep_in_memory="--spans" in argv)
    bus = EventBus(telemetry=telemetry.telemetry)
    with Team([Lead.child_spec("lead", bus), Writer.child_spec("writer", bus)], bus=bus) as team:
        result = team.run(Plan(tasks=[Task(id="report", agent="lead")]), workflow_id="wf")
    print(result.answer)
    print(result.table())
    bus.stop()
    if telemetry.memory is not None:
        spans = telemetry.memory.get_finished_spans()
        print(format_span_tree(spans))
    telemetry.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
