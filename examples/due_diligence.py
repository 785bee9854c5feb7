# /// script
# requires-python = ">=3.11"
# dependencies = ["actorchestra"]
# ///
"""Due diligence on a company by a team of LLM agents.

A planner turns the request into a DAG: financial, legal, HR and market analyses
(t1-t4, in parallel), a risk synthesis (t5, after t1-t4) and a final report (t6, after
t5). Each agent is an LLM agent whose tools compute figures from the company's files
(see ``company_data.py``). Offline (no ``OPENAI_BASE_URL``) the model is a local
OpenAI-compatible server with scripted replies; with ``OPENAI_BASE_URL`` and
``OPENAI_API_KEY`` set, the same code talks to that endpoint.

Run ``python examples/due_diligence.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import openai
from pydantic import BaseModel, Field, JsonValue

from actors import (
    ChildSpec,
    LLMAgent,
    Planner,
    PlanningError,
    TaskError,
    Team,
    WorkflowTimeout,
)
from actors.telemetry import format_span_tree, setup_telemetry
from actors.testing import FakeLLMServer, Reply, tool_names
from bus import EventBus
from memory import SQLiteEventLog, SQLiteIdempotencyStore, SQLiteStore, StoreFileError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from company_data import (
    InputError,
    financial_tools,
    hr_tools,
    legal_tools,
    load_company,
    market_tools,
    report_tools,
    risk_tools,
)

DEFAULT_INPUT = Path(__file__).resolve().parent / "data" / "northwind"


class Finding(BaseModel):
    """An agent's structured answer."""

    summary: str = Field(description="Two or three sentences on what the figures show.")
    figures: dict[str, JsonValue] = Field(description="The figures the tools computed.")
    risk_score: int = Field(ge=0, le=100, description="0 (no risk) to 100 (deal breaker).")


AGENTS: dict[str, tuple[str, Any, type[BaseModel] | None]] = {
    "financial": (
        "Analyses financial statements: growth, margins, liquidity, leverage.",
        financial_tools,
        Finding,
    ),
    "legal": ("Reviews litigation and material contracts.", legal_tools, Finding),
    "hr": ("Analyses headcount, attrition and payroll.", hr_tools, Finding),
    "market": ("Assesses market share and competitive position.", market_tools, Finding),
    "risk": ("Combines the area analyses into an overall risk assessment.", risk_tools, Finding),
    "report": ("Writes the final due-diligence report in Markdown.", report_tools, None),
}

PLAN: dict[str, Any] = {
    "tasks": [
        {
            "id": "t1",
            "agent": "financial",
            "description": "Analyse the financial statements.",
            "depends_on": [],
            "priority": 1,
        },
        {
            "id": "t2",
            "agent": "legal",
            "description": "Review litigation and material contracts.",
            "depends_on": [],
        },
        {
            "id": "t3",
            "agent": "hr",
            "description": "Analyse headcount and attrition.",
            "depends_on": [],
        },
        {
            "id": "t4",
            "agent": "market",
            "description": "Assess the market position.",
            "depends_on": [],
        },
        {
            "id": "t5",
            "agent": "risk",
            "description": "Synthesise the overall risk.",
            "depends_on": ["t1", "t2", "t3", "t4"],
        },
        {
            "id": "t6",
            "agent": "report",
            "description": "Write the final report.",
            "depends_on": ["t5"],
        },
    ]
}


def offline_responder(request: dict[str, Any]) -> Reply:
    """The scripted model used offline: plans, calls every tool once, reports figures.

    It does no arithmetic of its own: every figure in its answers comes from the
    tools' results in the conversation.
    """
    schema = (request.get("response_format") or {}).get("json_schema", {}).get("name")
    if schema == "Plan":
        return Reply.json(PLAN)
    messages: list[dict[str, Any]] = request["messages"]
    results = [m["content"] for m in messages if m["role"] == "tool"]
    if not results and tool_names(request):
        return Reply.calls(*[(name, {}) for name in tool_names(request)])
    figures: dict[str, Any] = {}
    for content in results:
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(content)
            if isinstance(value, dict):
                figures.update(value)
    if schema == "Finding":
        scalars = [
            f"{k.replace('_', ' ')} {v}"
            for k, v in figures.items()
            if isinstance(v, int | float | str) and k != "risk_score"
        ]
        summary = "; ".join(scalars[:6]) + "."
        recalled = recalled_scores(messages[1]["content"] if len(messages) > 1 else "")
        if recalled:
            summary += f" Risk score {recalled[0]} in the earlier run I recall."
        return Reply.json(
            {"summary": summary, "figures": figures, "risk_score": figures.get("risk_score", 0)}
        )
    return Reply.text(results[-1] if results else "")


def recalled_scores(prompt: str) -> list[object]:
    """Risk scores in the facts an agent recalled into its prompt (see ``LLMAgent``)."""
    _, found, facts = prompt.partition("Facts you recorded in earlier workflows")
    if not found:
        return []
    recalled = json.loads(facts.split("(JSON):\n", 1)[1].split("\n\n", 1)[0])
    return [f["fact"]["result"].get("risk_score") for f in recalled if isinstance(f["fact"], dict)]


def build_agents(
    bus: EventBus,
    client: openai.OpenAI,
    model: str,
    company: Any,
    names: Iterable[str] = AGENTS,
    **options: Any,
) -> list[ChildSpec]:
    """The child specs of the team's LLM agents (``names`` of :data:`AGENTS`) on ``bus``."""
    return [
        LLMAgent.child_spec(
            name,
            bus,
            description=AGENTS[name][0],
            client=client,
            model=model,
            tools=AGENTS[name][1](company),
            output_type=AGENTS[name][2],
            system_prompt=f"You are the {name} agent of a due-diligence team. {AGENTS[name][0]} "
            "Use your tools for every figure; never invent numbers.",
            **options,
        )
        for name in names
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Due diligence on a company by a supervised team of LLM agents.",
        epilog="Offline by default; set OPENAI_BASE_URL and OPENAI_API_KEY to use a real endpoint, "
        "and OTEL_EXPORTER_OTLP_ENDPOINT to send traces to Jaeger.",
    )
    parser.add_argument(
        "--input",
        type=Path,
        default=DEFAULT_INPUT,
        metavar="DIR",
        help="directory with the company's files (default: the bundled Northwind data)",
    )
    parser.add_argument(
        "--model",
        default=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
        help="model name for a real endpoint (default: $OPENAI_MODEL or gpt-4o-mini)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds planning and the workflow may take in all (default 120)",
    )
    parser.add_argument(
        "--db",
        type=Path,
        default=Path("actorchestra.db"),
        metavar="PATH",
        help="SQLite file for the agents' memory and the event log; a second run recalls "
        "what the first learned (default: ./actorchestra.db)",
    )
    parser.add_argument("--spans", action="store_true", help="print the span tree after the run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        company = load_company(args.input)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        store = SQLiteStore(args.db)
    except StoreFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    known = sum(len(store.records(name)) for name in AGENTS)
    print(f"memory: {args.db} holds {known} facts the agents learned in earlier runs")
    telemetry = setup_telemetry("due-diligence", keep_in_memory=args.spans)
    request = (
        f"Carry out due diligence on {company.name}: financial, legal, HR and market "
        "analyses, then an overall risk assessment, then a report."
    )
    with contextlib.ExitStack() as stack:
        if os.environ.get("OPENAI_BASE_URL"):
            try:
                client = openai.OpenAI(timeout=args.timeout)  # retries: the agents set them
            except openai.OpenAIError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            model = args.model
            print(f"model: {model} at {client.base_url}")
        else:
            server = stack.enter_context(FakeLLMServer(offline_responder))
            client, model = server.client(), "offline-scripted"
            print(f"model: offline scripted server at {server.base_url}")
        log = SQLiteEventLog(args.db)
        stack.callback(log.close)
        effects = SQLiteIdempotencyStore(args.db)
        stack.callback(effects.close)
        bus = EventBus(telemetry=telemetry.telemetry, event_log=log)
        specs = build_agents(bus, client, model, company, memory=store, idempotency=effects)
        team = stack.enter_context(Team(specs, bus=bus))
        planner = Planner(client, model, team.agents, telemetry=bus.telemetry)
        deadline = time.monotonic() + args.timeout  # planning and the workflow, in all
        with team.workflow("due_diligence"):
            try:
                plan = planner.plan(request, timeout=args.timeout)
            except (PlanningError, TaskError) as exc:
                print(f"error: planning failed: {exc}", file=sys.stderr)
                return 1
            try:
                remaining = max(0.1, deadline - time.monotonic())
                result = team.run(plan, timeout=remaining, name="due_diligence")
            except WorkflowTimeout as exc:
                print(f"error: {exc}", file=sys.stderr)
                if exc.partial is not None:
                    print(exc.partial.table(), file=sys.stderr)
                return 1
        # Export metrics while the team still runs, so gauges (mailbox depth) have values.
        telemetry.meter_provider.force_flush()
    print()
    print(result.table())
    print()
    tokens = result.usage + planner.usage
    print(
        f"workflow {result.workflow_id}: {result.status.value} in {result.duration:.2f} s, "
        f"{tokens.total_tokens} tokens ({tokens.input_tokens} in, {tokens.output_tokens} out)"
    )
    recalled = [
        f"  {t.task_id} {t.agent}: {str(t.result['summary']).rsplit('. ', 1)[-1]}"
        for t in result.tasks
        if isinstance(t.result, dict) and "earlier run" in str(t.result.get("summary", ""))
    ]
    if recalled:
        print("recalled from earlier runs (in the agents' own words):", *recalled, sep="\n")
    print()
    if result.ok:
        print(
            result.answer if isinstance(result.answer, str) else json.dumps(result.answer, indent=2)
        )
    else:
        for t in result.tasks:
            if t.error:
                print(f"{t.task_id}: {t.error}")
    store.close()
    telemetry.shutdown()
    if telemetry.memory is not None:
        print(format_span_tree(telemetry.memory.get_finished_spans()))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
