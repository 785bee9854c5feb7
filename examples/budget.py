# /// script
# requires-python = ">=3.11"
# dependencies = ["actorchestra"]
# ///
"""Cost and a budget: what each task cost, and a workflow stopped when it spends too much.

    python examples/budget.py [--dollars 0.0006]

Three writers draft, edit and polish in turn (an ``LLMAgent`` each, model
``gpt-4o-mini``, priced from ``actors.DEFAULT_PRICES``). The team's ``Limits`` give each
workflow a budget in dollars; once the spend passes it, the unfinished tasks are
cancelled and ``team.run`` raises ``BudgetExceeded``, whose ``result`` table shows what
was spent, on what, and what did not run. Offline by default (a local OpenAI-compatible
server); with ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` set, a real endpoint is used.
"""

from __future__ import annotations

import argparse
import os

import openai

from actors import Budget, BudgetExceeded, Limits, LLMAgent, Plan, Task, Team
from actors.testing import FakeLLMServer, Reply
from bus import EventBus


def run(client: openai.OpenAI, dollars: float) -> None:
    bus = EventBus(tracing=False)
    steps = ["draft a product note", "edit it", "polish it"]
    agents = [
        LLMAgent.child_spec(f"w{i}", bus, client=client, model="gpt-4o-mini") for i in (0, 1, 2)
    ]
    tasks = [
        Task(id=f"t{i}", agent=f"w{i}", description=s, depends_on=(f"t{i - 1}",) if i else ())
        for i, s in enumerate(steps)
    ]
    with Team(agents, bus=bus, limits=Limits(budget=Budget(dollars=dollars))) as team:
        try:
            result = team.run(Plan(tasks=tasks), timeout=60)
        except BudgetExceeded as exc:  # stopped: exc.result says what was spent, on what
            print(f"stopped: {exc.reason}")
            result = exc.result
    print(result.table())
    bus.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dollars", type=float, default=0.0006, help="the workflow's budget")
    dollars = parser.parse_args().dollars
    if os.environ.get("OPENAI_BASE_URL"):  # a real endpoint
        run(openai.OpenAI(), dollars)
    else:  # offline: a local OpenAI-compatible server
        words = "A short, clear note about the product and what it does for you. " * 40
        with FakeLLMServer([Reply.text(words)] * 3) as server:
            run(server.client(), dollars)
