# /// script
# requires-python = ">=3.11"
# dependencies = ["actorchestra[otlp]"]
# ///
"""Event-driven workflows: each support ticket that arrives starts a triage → answer run.

Tickets arrive as events of the application's own type, ``TicketOpened``, published
on the bus (from a web hook, a queue, or, over NATS, another service). ``team.on``
starts a two-task workflow for each one, keyed by the ticket number: a ticket sent
twice (a retried web hook) starts one workflow. Run it with ``--spans`` to print one
ticket's trace: the ``publish`` span of the event, its ``process`` span by the trigger,
then the workflow. With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, traces go to Jaeger.
"""

from __future__ import annotations

import sys
from typing import Literal

from actors import Agent, Plan, Task, TaskContext, Team
from actors.telemetry import format_span_tree, setup_telemetry
from actors.testing import EventRecorder
from bus import Event, EventBus, WorkflowFinished


class TicketOpened(Event):  # the application's own event type
    type: Literal["helpdesk.ticket_opened"] = "helpdesk.ticket_opened"
    number: str
    text: str


class Triage(Agent):
    def handle(self, task: TaskContext) -> object:
        return "billing" if "invoice" in task.description else "technical"


class Answer(Agent):
    def handle(self, task: TaskContext) -> object:
        return f"Routed to {task.inputs['triage']}: we are on it."


def ticket_plan(ticket: TicketOpened) -> Plan:
    return Plan(
        tasks=[
            Task(id="triage", agent="triage", description=ticket.text),
            Task(id="answer", agent="answer", depends_on=("triage",)),
        ]
    )


TICKETS = [
    ("T-1", "My invoice is wrong"),
    ("T-2", "The app crashes on start"),
    ("T-1", "My invoice is wrong"),  # the web hook retried: the same ticket again
    ("T-3", "Where is my invoice?"),
]


def main(argv: list[str]) -> None:
    telemetry = setup_telemetry("event-driven", keep_in_memory="--spans" in argv)
    bus = EventBus(telemetry=telemetry.telemetry)
    done = EventRecorder(bus, WorkflowFinished)
    agents = [Triage.child_spec("triage", bus), Answer.child_spec("answer", bus)]
    with Team(agents, bus=bus) as team:
        trigger = team.on(TicketOpened, ticket_plan, key=lambda ticket: ticket.number)
        for number, text in TICKETS:
            bus.publish(TicketOpened(number=number, text=text))
        trigger.wait_idle()
        done.wait_for(lambda finished: len(finished) == 3, timeout=10)
    stats = trigger.statistics()
    print(f"{stats.matched} tickets, {stats.started} workflows, {stats.duplicates} duplicate")
    for event in done.of_type(WorkflowFinished):
        print(f"  {event.workflow_id}: {event.status}")
    bus.stop()
    if telemetry.memory is not None:
        spans = telemetry.memory.get_finished_spans()
        first = next(s for s in spans if s.name.startswith("publish helpdesk"))
        print(format_span_tree([s for s in spans if s.context.trace_id == first.context.trace_id]))
    telemetry.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
