from __future__ import annotations

import pytest

from actors import Planner, PlanningError
from actors.testing import FakeLLMServer, Reply

AGENTS = {"financial": "numbers", "legal": "law"}
GOOD = {
    "tasks": [
        {"id": "t1", "agent": "financial"},
        {"id": "t2", "agent": "legal", "depends_on": ["t1"]},
    ]
}


def test_invalid_plans_are_sent_back_with_the_error_until_valid() -> None:
    script = [
        Reply.text("not json at all"),
        Reply.json({"tasks": [{"id": "t1", "agent": "astrologer"}]}),
        Reply.json(GOOD),
    ]
    with FakeLLMServer(script) as server:
        planner = Planner(server.client(), "m", AGENTS, max_attempts=3)
        plan = planner.plan("check the company")
    assert [t.id for t in plan.tasks] == ["t1", "t2"]
    feedback = [r["messages"][-1]["content"] for r in server.requests[1:]]
    assert feedback[0].startswith("That plan is invalid: 1 validation error for Plan")
    assert feedback[1] == (
        "That plan is invalid: Task 't1' names unknown agent 'astrologer'; declared agents are "
        "['financial', 'legal'].\nReply with a corrected plan."
    )
    system = server.requests[0]["messages"][0]["content"]
    assert "- financial: numbers" in system and "- legal: law" in system
    assert server.requests[0]["response_format"]["json_schema"]["name"] == "Plan"
    assert planner.usage.total_tokens > 0


def test_planner_gives_up_with_a_clear_error() -> None:
    cyclic = {
        "tasks": [
            {"id": "a", "agent": "legal", "depends_on": ["b"]},
            {"id": "b", "agent": "legal", "depends_on": ["a"]},
        ]
    }
    with FakeLLMServer([Reply.json(cyclic)] * 2) as server:
        planner = Planner(server.client(), "m", AGENTS, max_attempts=2)
        with pytest.raises(
            PlanningError,
            match=r"^The model gave no valid plan in 2 attempts; last error: the plan breaks a "
            r"rule: a plan must be acyclic$",
        ):
            planner.plan("x")
    assert len(server.requests) == 2


def test_a_plan_with_an_infinite_timeout_is_sent_back() -> None:
    # 1e999 parses to infinity: the plan passed, and the workflow then failed with a
    # WorkflowError (its events cannot carry the timeout), which the example let escape.
    forever = '{"tasks": [{"id": "t1", "agent": "legal", "timeout": 1e999}]}'
    with FakeLLMServer([Reply.text(forever), Reply.json(GOOD)]) as server:
        plan = Planner(server.client(), "m", AGENTS, max_attempts=2).plan("x")
    assert [t.id for t in plan.tasks] == ["t1", "t2"]
    feedback = server.requests[1]["messages"][-1]["content"]
    assert feedback.startswith("That plan is invalid: ")
    assert "tasks.0.timeout\n  Input should be a finite number" in feedback
