"""LLM handoffs: transfer_to_<agent> tools, typed context, declared edges only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from pydantic import BaseModel

from actors import (
    Agent,
    ConfigurationError,
    HandoffEdge,
    HandoffTo,
    LLMAgent,
    Plan,
    Task,
    TaskContext,
    TaskStatus,
    Team,
)
from actors.testing import EventRecorder, FakeLLMServer, Reply, check_protocol, tool_names
from bus import EventBus, Handoff


class BillingContext(BaseModel):
    invoice_id: str
    amount: float


class Tech(Agent):
    """A hand-written specialist: reads what it was handed, typed."""

    def handle(self, task: TaskContext) -> object:
        return {"by": task.handed_over_by, "why": task.handoff_reason, "got": task.handed_over()}


EDGES: list[HandoffEdge | str] = [
    HandoffEdge("billing", context=BillingContext, description="Invoices."),
    "tech",
]
GOOD = {"reason": "a refund", "context": {"invoice_id": "INV-7", "amount": 12.5}}


def user_prompt(request: dict[str, Any]) -> str:
    return str(next(m["content"] for m in request["messages"] if m["role"] == "user"))


def tool_results(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


def run_team(
    bus: EventBus,
    server: FakeLLMServer,
    *requests: str,
    edges: list[HandoffEdge | str] | None = None,
    declared: list[str] | None = None,
) -> tuple[list[Any], EventRecorder]:
    client = server.client()
    specs = [
        LLMAgent.child_spec(
            "triage", bus, client=client, model="m", handoffs=EDGES if edges is None else edges
        ),
        LLMAgent.child_spec("billing", bus, client=client, model="m", context_type=BillingContext),
        Tech.child_spec("tech", bus),
    ]
    recorder = EventRecorder(bus)
    plan = Plan(
        tasks=[
            Task(id=f"r{i}", agent="triage", description=text, max_attempts=1)
            for i, text in enumerate(requests)
        ]
    )
    handoffs = {"triage": ["billing", "tech"] if declared is None else declared}
    with Team(specs, bus=bus, handoffs=handoffs) as team:
        result = team.run(plan, timeout=20)
    check_protocol(recorder.events)
    return list(result.tasks), recorder


def test_triage_routes_each_request_to_its_specialist_with_typed_context(
    traced_bus: EventBus, spans: InMemorySpanExporter
) -> None:
    def responder(request: dict[str, Any]) -> Reply:
        if "transfer_to_billing" in tool_names(request):  # the triage agent
            if "invoice" in user_prompt(request):
                return Reply.calls(("transfer_to_billing", GOOD))
            return Reply.calls(("transfer_to_tech", {"reason": "a crash"}))
        return Reply.text("refunded: " + user_prompt(request))  # billing

    with FakeLLMServer(responder) as server:
        (billing, tech), recorder = run_team(
            traced_bus, server, "refund invoice INV-7", "the app crashes"
        )
    assert (billing.status, billing.agent, billing.attempts) == (
        TaskStatus.COMPLETED,
        "billing",
        1,
    )
    assert (tech.status, tech.agent) == (TaskStatus.COMPLETED, "tech")
    assert tech.result == {"by": "triage", "why": "a crash", "got": {}}
    triage_request = next(r for r in server.requests if tool_names(r))
    assert tool_names(triage_request) == ["transfer_to_billing", "transfer_to_tech"]
    schema = triage_request["tools"][0]["function"]
    assert schema["description"] == "Invoices."
    assert set(schema["parameters"]["properties"]) == {"reason", "context"}
    # The billing agent's prompt: who handed it over, why, and the typed context.
    assert isinstance(billing.result, str)
    assert "Agent 'triage' handed this task over to you because: a refund" in billing.result
    assert (
        'Context handed over to you (BillingContext) (JSON):\n{"invoice_id": "INV-7", '
        '"amount": 12.5}' in billing.result
    )
    handoffs = recorder.of_type(Handoff)
    assert sorted(h.task_id for h in handoffs) == ["r0", "r1"]
    by_task = {h.task_id: h for h in handoffs}
    assert (by_task["r0"].to_agent, by_task["r0"].reason) == ("billing", "a refund")
    assert by_task["r0"].context == GOOD["context"]
    assert (by_task["r1"].to_agent, by_task["r1"].context) == ("tech", {})
    transfers = [s for s in spans.get_finished_spans() if s.name.startswith("execute_tool")]
    assert sorted(s.name for s in transfers) == [
        "execute_tool transfer_to_billing",
        "execute_tool transfer_to_tech",
    ]
    assert all(s.status.status_code is StatusCode.UNSET for s in transfers)


def test_a_transfer_to_an_undeclared_agent_is_no_tool_and_the_model_is_told(
    bus: EventBus,
) -> None:
    script = [
        Reply.calls(("transfer_to_sales", {"reason": "upsell"})),
        Reply.calls(("transfer_to_billing", GOOD)),
        Reply.text("refunded"),
    ]
    with FakeLLMServer(script) as server:
        [task], recorder = run_team(bus, server, "refund", edges=[EDGES[0]])
    assert (task.status, task.agent, task.result) == (TaskStatus.COMPLETED, "billing", "refunded")
    assert tool_names(server.requests[0]) == ["transfer_to_billing"]
    assert tool_results(server.requests[1]) == [
        "error: there is no tool named 'transfer_to_sales'; available: ['transfer_to_billing']"
    ]
    assert [h.to_agent for h in recorder.of_type(Handoff)] == ["billing"]


def test_an_edge_the_team_did_not_declare_fails_the_task(bus: EventBus) -> None:
    script = [Reply.calls(("transfer_to_tech", {"reason": "a crash"}))]
    with FakeLLMServer(script) as server:
        [task], _ = run_team(bus, server, "the app crashes", declared=["billing"])
    assert task.status is TaskStatus.FAILED
    assert task.error == (
        "HandoffError: agent 'triage' handed task 'r0' to 'tech', which is not a declared "
        "handoff; declare it in handoffs."
    )


def test_malformed_transfer_arguments_go_back_to_the_model_until_corrected(
    traced_bus: EventBus, spans: InMemorySpanExporter
) -> None:
    script = [
        Reply.calls(("transfer_to_billing", {"context": {"invoice_id": "INV-7"}})),
        Reply.calls(("transfer_to_billing", "{not json")),
        Reply.calls(("transfer_to_billing", GOOD)),
        Reply.text("refunded"),
    ]
    with FakeLLMServer(script) as server:
        [task], recorder = run_team(traced_bus, server, "refund")
    assert (task.status, task.agent, task.result) == (TaskStatus.COMPLETED, "billing", "refunded")
    assert tool_results(server.requests[1]) == [
        "error: Arguments for tool 'transfer_to_billing' are invalid: context.amount: "
        "Field required."
    ]
    [second] = tool_results(server.requests[2])[1:]
    assert second.startswith("error: Arguments for tool 'transfer_to_billing' are invalid: ")
    [handoff] = recorder.of_type(Handoff)
    assert handoff.context == GOOD["context"]
    statuses = [
        s.status.status_code
        for s in spans.get_finished_spans()
        if s.name == "execute_tool transfer_to_billing"
    ]
    assert statuses == [StatusCode.ERROR, StatusCode.ERROR, StatusCode.UNSET]


class BadTriage(Agent):
    def handle(self, task: TaskContext) -> object:
        return HandoffTo("billing", reason="refund", context={"invoice_id": 7})


def test_context_failing_the_receivers_context_type_fails_the_task_before_the_model(
    bus: EventBus,
) -> None:
    with FakeLLMServer([]) as server:
        specs = [
            BadTriage.child_spec("triage", bus),
            LLMAgent.child_spec(
                "billing", bus, client=server.client(), model="m", context_type=BillingContext
            ),
        ]
        plan = Plan(tasks=[Task(id="t", agent="triage", max_attempts=2)])
        with Team(specs, bus=bus, handoffs={"triage": ["billing"]}) as team:
            [task] = team.run(plan, timeout=20).tasks
    assert server.requests == []
    assert (task.status, task.attempts) == (TaskStatus.FAILED, 1)
    assert task.error == (
        "TaskError: Task 't' was handed context that fails the BillingContext schema: "
        "invoice_id: Input should be a valid string; amount: Field required"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"handoffs": ["a.b"]},
            "Handoff to 'a.b' would be a tool named 'transfer_to_a.b', which is not a valid "
            "function name; use agent names of letters, digits, '_' and '-'.",
        ),
        ({"handoffs": ["x", "x"]}, "LLMAgent 'n' has two tools named 'transfer_to_x'."),
        (
            {"handoffs": [HandoffEdge("x", context=dict)]},  # type: ignore[arg-type]
            "Handoff to 'x' needs a pydantic model class as context.",
        ),
    ],
)
def test_handoff_edges_are_checked(kwargs: dict[str, Any], message: str, bus: EventBus) -> None:
    def transfer_to_x() -> str:
        return ""

    with FakeLLMServer([]) as server, pytest.raises(ConfigurationError) as raised:
        LLMAgent(name="n", bus=bus, client=server.client(), model="m", **kwargs)
    assert str(raised.value) == message
    with FakeLLMServer([]) as server, pytest.raises(ConfigurationError, match=r"^LLMAgent 'n'"):
        LLMAgent(
            name="n",
            bus=bus,
            client=server.client(),
            model="m",
            tools=[transfer_to_x],
            handoffs=["x"],
        )


def test_the_prompt_of_a_task_nobody_handed_over_has_no_handoff_part(bus: EventBus) -> None:
    with FakeLLMServer([Reply.text("ok")]) as server:
        spec = LLMAgent.child_spec("billing", bus, client=server.client(), model="m")
        with Team([spec], bus=bus) as team:
            team.run(Plan(tasks=[Task(id="t", agent="billing", description="d")]), timeout=20)
    assert json.dumps(server.requests[0]["messages"]).count("handed") == 0
