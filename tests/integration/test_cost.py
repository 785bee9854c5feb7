"""Cost: dollars per task and workflow, and budgets, with LLM agents over the local HTTP server."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from actors import (
    Budget,
    BudgetExceeded,
    Limits,
    LLMAgent,
    ModelPrice,
    Plan,
    Planner,
    Prices,
    Task,
    TaskStatus,
    Team,
    WorkflowResult,
)
from actors.testing import EventRecorder, FakeLLMServer, Reply, check_protocol
from bus import CancelRequested, EventBus, TokenUsage, parse_event
from bus.lowlevel import read_stored_event

PRICES = Prices(
    {
        "model-a": ModelPrice(input=1.0, output=2.0),
        "model-b": ModelPrice(input=10.0, cached_input=5.0, output=20.0),
        "dear": ModelPrice(input=1000.0, output=1000.0),
    }
)
CHAIN = Plan(
    tasks=[
        Task(id="t1", agent="w", description="first"),
        Task(id="t2", agent="w", description="second", depends_on=("t1",)),
        Task(id="t3", agent="w", description="third", depends_on=("t2",)),
        Task(id="t4", agent="w", description="fourth", depends_on=("t3",)),
    ]
)


def dollars(usage: TokenUsage, price: ModelPrice) -> float:
    cached = usage.cached_input_tokens
    spent = (usage.input_tokens - cached) * price.input + usage.output_tokens * price.output
    return (spent + cached * (price.cached_input or price.input)) / 1e6


def reply(request: dict[str, Any]) -> Reply:
    cached = 7 if request["model"] == "model-b" else 0
    return Reply(content="done " * 20, cached_tokens=cached)


def run_chain(bus: EventBus, model: str, limits: Limits, **team: Any) -> WorkflowResult:
    with FakeLLMServer(reply) as server:
        spec = LLMAgent.child_spec("w", bus, client=server.client(), model=model)
        with Team([spec], bus=bus, limits=limits, **team) as t:
            return t.run(CHAIN, timeout=30)


def test_costs_per_task_and_workflow_come_from_the_price_table(bus: EventBus) -> None:
    with FakeLLMServer(reply) as server:
        specs = [
            LLMAgent.child_spec(n, bus, client=server.client(), model=m)
            for n, m in (("a", "model-a"), ("b", "model-b"))
        ]
        plan = Plan(tasks=[Task(id="t1", agent="a"), Task(id="t2", agent="b", depends_on=("t1",))])
        with Team(specs, bus=bus, prices=PRICES) as team:
            result = team.run(plan, timeout=30)
    t1, t2 = result.tasks
    assert t1.usage_by_model == {"model-a": t1.usage} and t1.usage.total_tokens > 0
    assert t2.usage_by_model == {"model-b": t2.usage} and t2.usage.cached_input_tokens == 7
    assert t1.cost == pytest.approx(dollars(t1.usage, PRICES["model-a"]))
    assert t2.cost == pytest.approx(dollars(t2.usage, PRICES["model-b"]))
    assert t2.cost != pytest.approx(
        dollars(t2.usage.model_copy(update={"cached_input_tokens": 0}), PRICES["model-b"])
    )
    assert result.cost == pytest.approx(
        dollars(t1.usage, PRICES["model-a"]) + dollars(t2.usage, PRICES["model-b"])
    )
    lines = result.table().splitlines()
    assert lines[0].split()[-1] == "cost_usd"
    assert lines[-1].split() == ["total", str(result.usage.total_tokens), f"{result.cost:.6f}"]


def test_a_model_with_no_price_has_an_unknown_cost_never_a_guess(bus: EventBus) -> None:
    result = run_chain(bus, "mystery-model", Limits(), prices=PRICES)
    assert result.ok and result.usage.total_tokens > 0
    assert [t.cost for t in result.tasks] == [None] * 4 and result.cost is None
    assert result.table().splitlines()[-1].split()[-1] == "?"


def test_well_known_models_are_priced_by_default(bus: EventBus) -> None:
    result = run_chain(bus, "gpt-4o-mini", Limits())
    expected = dollars(result.usage, ModelPrice(input=0.15, cached_input=0.075, output=0.60))
    assert result.cost == pytest.approx(expected) and expected > 0


def test_the_planners_tokens_count_in_the_workflow(bus: EventBus) -> None:
    planned = {"tasks": [{"id": "t1", "agent": "w", "description": "go"}]}
    with FakeLLMServer(lambda r: Reply.json(planned) if r["model"] == "model-b" else reply(r)) as s:
        planner = Planner(s.client(), "model-b", {"w": "works"})
        spec = LLMAgent.child_spec("w", bus, client=s.client(), model="model-a")
        with Team([spec], bus=bus, prices=PRICES) as team:
            result = team.run(planner.plan("do it"), planning=planner.spent, timeout=30)
    assert result.planning == {"model-b": planner.usage} and planner.usage.total_tokens > 0
    assert result.planning_cost == pytest.approx(dollars(planner.usage, PRICES["model-b"]))
    assert result.usage == planner.usage + result.tasks[0].usage
    task_cost = dollars(result.tasks[0].usage, PRICES["model-a"])
    assert result.cost == pytest.approx(dollars(planner.usage, PRICES["model-b"]) + task_cost)
    assert result.table().splitlines()[1].split()[:2] == ["(plan)", "planner"]


def stopped(bus: EventBus, model: str, budget: Budget) -> BudgetExceeded:
    recorder = EventRecorder(bus)
    with pytest.raises(BudgetExceeded) as caught:
        run_chain(bus, model, Limits(budget=budget), prices=PRICES)
    check_protocol(recorder.events)  # every task ended exactly once
    return caught.value


def test_a_token_budget_stops_the_workflow_where_it_is_passed(bus: EventBus) -> None:
    full = run_chain(bus, "model-a", Limits(), prices=PRICES)
    first_two = sum(t.usage.total_tokens for t in full.tasks[:2])
    exc = stopped(bus, "model-a", Budget(tokens=first_two - 1))
    statuses = [t.status for t in exc.result.tasks]
    assert statuses == [TaskStatus.COMPLETED] * 2 + [TaskStatus.CANCELLED] * 2
    assert exc.result.usage.total_tokens == first_two
    assert exc.reason == f"spent {first_two} tokens, over its budget of {first_two - 1} tokens"
    assert str(exc) == (
        f"Workflow {exc.workflow_id!r} {exc.reason}; it was stopped, tasks not completed: "
        "['t3', 't4'] (see .result for what was spent, on what)."
    )
    assert exc.result.tasks[2].error == f"cancelled: the workflow {exc.reason}"
    assert exc.result.status is TaskStatus.CANCELLED


def test_a_dollar_budget_stops_the_workflow_with_the_dollars_spent(bus: EventBus) -> None:
    full = run_chain(bus, "dear", Limits(), prices=PRICES)
    first, second = (dollars(t.usage, PRICES["dear"]) for t in full.tasks[:2])
    exc = stopped(bus, "dear", Budget(dollars=first + second / 2))
    assert [t.status.value for t in exc.result.tasks] == ["completed"] * 2 + ["cancelled"] * 2
    assert exc.result.cost == pytest.approx(first + second)
    assert [t.cost for t in exc.result.tasks[2:]] == [0.0, 0.0]
    spent = f"${exc.result.cost:.6f}"
    assert exc.reason == f"spent {spent}, over its budget of ${first + second / 2:g}"


def test_a_dollar_budget_cannot_be_kept_on_a_model_with_no_price(bus: EventBus) -> None:
    exc = stopped(bus, "mystery-model", Budget(dollars=100.0))
    assert exc.reason == (
        "spent tokens on models with no price ('mystery-model'), so its budget of $100 cannot "
        "be kept; add them to Prices"
    )
    assert [t.status.value for t in exc.result.tasks] == ["completed"] + ["cancelled"] * 3


def test_passing_the_budget_asks_the_attempts_in_flight_to_stop(bus: EventBus) -> None:
    release = threading.Event()

    def slow_or_fast(request: dict[str, Any]) -> Reply:
        if request["model"] == "model-b":
            release.wait(10)
        return Reply.text("done")

    recorder = EventRecorder(bus)
    plan = Plan(tasks=[Task(id="fast", agent="a"), Task(id="slow", agent="b")])
    try:
        with FakeLLMServer(slow_or_fast) as server:
            specs = [
                LLMAgent.child_spec(n, bus, client=server.client(), model=m)
                for n, m in (("a", "model-a"), ("b", "model-b"))
            ]
            limits = Limits(budget=Budget(tokens=1))
            with (
                Team(specs, bus=bus, limits=limits) as team,
                pytest.raises(BudgetExceeded) as caught,
            ):
                team.run(plan, timeout=30)
            release.set()
    finally:
        release.set()
    fast, slow = caught.value.result.tasks
    assert (fast.status, slow.status) == (TaskStatus.COMPLETED, TaskStatus.CANCELLED)
    assert [(e.task_id, e.agent) for e in recorder.of_type(CancelRequested)] == [("slow", "b")]
    check_protocol(recorder.events)


def test_records_without_models_stay_readable_and_cost_unknown() -> None:
    old = {"type": "task.finished", "status": "completed", "attempts": 1, "task_id": "t1"}
    old["usage"] = {"input_tokens": 5, "output_tokens": 1}
    record = read_stored_event(old, 0)
    assert record.model_dump()["usage_by_model"] == {}
    completed = parse_event({"type": "task.completed", "agent": "a"})
    assert completed.model_dump()["model"] == ""
