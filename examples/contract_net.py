# /// script
# requires-python = ">=3.11"
# dependencies = ["actorchestra"]
# ///
"""Contract net: specialists bid for the sections of a due-diligence report.

Each section is announced to every specialist (a ``CallForProposals``). A specialist
offers the hours it would need, in its fields of expertise, times one plus its load
(its attempts in flight); outside them it declines. The lowest offer wins the section
(an ``Award``). A specialist busy on a long section answers from its mailbox only
when done: past the deadline, so its bid is ignored (counted as a late bid) and the
section goes to a free specialist. Runs offline, in about a second.
"""

from __future__ import annotations

from actors import Agent, ContractNet, Offer, Plan, Task, TaskContext, Team
from bus import Award, CallForProposals, EventBus

HOURS = {  # hours each specialist needs per section; no entry: not its field
    "ada": {"financial": 3, "tax": 4, "risk": 6},
    "ben": {"legal": 20, "tax": 2, "financial": 8},
    "cy": {"financial": 5, "legal": 30, "hr": 4, "market": 4, "tax": 6, "risk": 5, "report": 3},
    "dee": {"hr": 2, "market": 3},
}


class Specialist(Agent):
    def bid(self, cfp: CallForProposals) -> Offer | None:
        hours = HOURS[self.name].get(cfp.description)
        if hours is None:
            return None  # not my field: decline
        return Offer(cost=hours * (1 + cfp.load), duration=hours * 3600.0)

    def handle(self, task: TaskContext) -> object:
        task.cancellation.wait(HOURS[self.name][task.description] * 0.02)  # the work
        return f"{task.description} section by {self.name}"


def main() -> None:
    bus = EventBus(tracing=False)
    awards: list[Award] = []
    bus.subscribe(Award, awards.append)
    sections = ["financial", "legal", "hr", "market"]
    plan = Plan(
        tasks=[
            *(Task(id=s, agent="specialist", description=s) for s in sections),
            Task(id="tax", agent="specialist", description="tax", depends_on=("financial",)),
            Task(id="risk", agent="specialist", description="risk", depends_on=(*sections, "tax")),
            Task(id="report", agent="specialist", description="report", depends_on=("risk",)),
        ]
    )
    specs = [Specialist.child_spec(n, bus, capabilities=["specialist"]) for n in HOURS]
    with Team(specs, bus=bus, contract_net=ContractNet(deadline=0.05)) as team:
        result = team.run(plan, timeout=30)
    bus.stop()
    for award in awards:
        how = "no offer: least loaded" if award.fallback else f"{award.score:g} h"
        print(f"{award.task_id:9}  -> {award.winner:4} ({how}, offers: {award.bids})")
    print(f"late bids ignored: {sum(t.late_bids for t in result.tasks)}")
    print(f"report: {result.status.value}, {result.answer}")


if __name__ == "__main__":
    main()
