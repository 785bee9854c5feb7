# /// script
# requires-python = ">=3.11"
# dependencies = ["actorchestra"]
# ///
"""Triage: an LLM agent routes each customer request to the right specialist.

The triage agent gets one ``transfer_to_<agent>`` tool per declared handoff edge
(billing, tech, sales); each edge's arguments are a typed context model, validated
before the task moves, and the specialist receives that context typed and in its
prompt. Offline (no ``OPENAI_BASE_URL``) the model is a local OpenAI-compatible server
with scripted replies; with ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` set, the same
code talks to that endpoint (``--model`` names the model).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from typing import Any, Literal

import openai
from pydantic import BaseModel, Field

from actors import HandoffEdge, LLMAgent, Plan, Task, TaskStatus, Team
from actors.telemetry import format_span_tree, setup_telemetry
from actors.testing import EventRecorder, FakeLLMServer, Reply, tool_names
from bus import EventBus, Handoff

# --- the pattern: typed contexts, a triage agent with edges, the specialists ----------


class BillingContext(BaseModel):
    invoice_id: str = Field(description="The invoice concerned, e.g. INV-1042.")
    issue: Literal["refund", "overcharge", "other"]


class TechContext(BaseModel):
    product: str = Field(description="The product that misbehaves.")
    symptom: str = Field(description="What the customer sees, in a few words.")


SPECIALISTS: dict[str, tuple[type[BaseModel] | None, str]] = {
    "billing": (BillingContext, "Invoices, refunds and charges."),
    "tech": (TechContext, "Crashes, errors and bugs in our products."),
    "sales": (None, "Prices, plans and new purchases."),
}


def build_team(bus: EventBus, client: openai.OpenAI, model: str) -> Team:
    """The triage agent, one specialist per edge, and the edges declared to the team."""
    llm: dict[str, Any] = {"client": client, "model": model}
    edges = [HandoffEdge(n, context=c, description=d) for n, (c, d) in SPECIALISTS.items()]
    route = "Route the customer's request: transfer it to the right specialist."
    triage = LLMAgent.child_spec("triage", bus, handoffs=edges, system_prompt=route, **llm)
    answer = "You are one of our specialists; answer the customer in one sentence. You handle: "
    specialists = [
        LLMAgent.child_spec(n, bus, context_type=c, description=d, system_prompt=answer + d, **llm)
        for n, (c, d) in SPECIALISTS.items()
    ]
    return Team([triage, *specialists], bus=bus, handoffs={"triage": list(SPECIALISTS)})


# --- offline: a scripted model ------------------------------------------------------

REQUESTS = [
    "I was charged twice on invoice INV-1042, please refund me.",
    "The Atlas mobile app crashes when I open the settings page.",
    "How much is the Team plan for 40 seats?",
]


def offline_responder(request: dict[str, Any]) -> Reply:
    """Triage by keywords; specialists answer from the context handed to them."""
    prompt = next(m["content"] for m in request["messages"] if m["role"] == "user")
    if "transfer_to_billing" in tool_names(request):  # the triage agent
        if invoice := re.search(r"INV-\d+", prompt):
            issue = "refund" if "refund" in prompt else "other"
            context = {"invoice_id": invoice.group(), "issue": issue}
            return Reply.calls(
                ("transfer_to_billing", {"reason": "a billing issue", "context": context})
            )
        if crash := re.search(r"The (\w+)[\w ]* (crashes[\w ]*)", prompt):
            context = {"product": crash.group(1), "symptom": crash.group(2)}
            return Reply.calls(("transfer_to_tech", {"reason": "a defect", "context": context}))
        return Reply.calls(("transfer_to_sales", {"reason": "a purchase question"}))
    _, _, handed = prompt.partition("(JSON):\n")
    context = json.loads(handed) if handed else {}
    if "invoice_id" in context:
        return Reply.text(f"A {context['issue']} for {context['invoice_id']} is on its way.")
    if "product" in context:
        return Reply.text(f"{context['product']}: we reproduced '{context['symptom']}'.")
    return Reply.text("The Team plan is 12 EUR a seat a month; I will send a quote.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--model", default=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))
    parser.add_argument("--spans", action="store_true", help="print the span tree after the run")
    args = parser.parse_args(argv)
    telemetry = setup_telemetry("triage", keep_in_memory=args.spans)
    with contextlib.ExitStack() as stack:
        if os.environ.get("OPENAI_BASE_URL"):
            client, model = openai.OpenAI(), args.model
        else:
            server = stack.enter_context(FakeLLMServer(offline_responder))
            client, model = server.client(), "offline-scripted"
        bus = EventBus(telemetry=telemetry.telemetry)
        handoffs = EventRecorder(bus, Handoff)
        team = stack.enter_context(build_team(bus, client, model))
        plan = Plan(
            tasks=[
                Task(id=f"r{i}", agent="triage", description=text)
                for i, text in enumerate(REQUESTS, 1)
            ]
        )
        result = team.run(plan, timeout=60, name="triage")
    print(result.table())
    print()
    for h in handoffs.of_type(Handoff):
        print(f"{h.task_id}: {h.from_agent} -> {h.to_agent} ({h.reason}) {json.dumps(h.context)}")
    print()
    for t in result.tasks:
        print(
            f"{t.task_id} [{t.agent}] {t.result if t.status is TaskStatus.COMPLETED else t.error}"
        )
    telemetry.shutdown()
    if telemetry.memory is not None:
        print(format_span_tree(telemetry.memory.get_finished_spans()))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
