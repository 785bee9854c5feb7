"""Re-planning: a failed workflow's remaining work planned again, keeping what completed."""

from __future__ import annotations

import json
import threading
from typing import ClassVar

import pytest

from actors import (
    Agent,
    ConfigurationError,
    Plan,
    Planner,
    Replan,
    Task,
    TaskContext,
    TaskError,
    TaskStatus,
    Team,
    WorkflowResult,
)
from actors.testing import EventRecorder, FakeLLMServer, Reply, check_protocol
from bus import EventBus, TaskStarted, WorkflowStarted


class Analyst(Agent):
    """Fails the tasks described "fail"; records every run."""

    runs: ClassVar[list[str]] = []
    lock = threading.Lock()

    def handle(self, task: TaskContext) -> object:
        with Analyst.lock:
            Analyst.runs.append(task.task_id)
        if task.description == "fail":
            raise TaskError("the news feed is down", retryable=False)
        return {"task": task.task_id, "inputs": task.inputs}


PLAN = Plan(
    tasks=(
        Task(id="financial", agent="analyst", description="the numbers"),
        Task(id="news", agent="analyst", description="fail"),
        Task(id="report", agent="analyst", depends_on=("financial", "news")),
    )
)
AGENTS = {"analyst": "analyses anything"}


def new_tasks(*tasks: dict[str, object]) -> Reply:
    return Reply.json({"tasks": list(tasks)})


@pytest.fixture(autouse=True)
def _clear_runs() -> None:
    Analyst.runs.clear()


def test_a_failed_workflow_is_replanned_and_what_completed_is_not_run_again(
    bus: EventBus,
) -> None:
    rec = EventRecorder(bus)
    script = [
        # First answer reuses a kept id: sent back with the error, then corrected.
        new_tasks({"id": "financial", "agent": "analyst"}),
        new_tasks(
            {"id": "news2", "agent": "analyst", "description": "the news from the archive"},
            {"id": "report2", "agent": "analyst", "depends_on": ["financial", "news2"]},
        ),
    ]
    with (
        FakeLLMServer(script) as server,
        Team([Analyst.child_spec("analyst", bus)], bus=bus) as team,
    ):
        planner = Planner(server.client(), "m", AGENTS)
        result = team.run(
            PLAN, workflow_id="dd", replan=Replan(planner, "check the company"), timeout=10
        )
    check_protocol(rec.events)
    assert result.ok, result.table()
    assert result.workflow_id == "dd.replan1"
    assert result.replanned_from is not None
    assert result.replanned_from.workflow_id == "dd"
    assert result.replanned_from.status is TaskStatus.FAILED
    # "financial" ran once, in the first round; its result fed the re-planned report.
    assert sorted(Analyst.runs) == ["financial", "news", "news2", "report2"]
    assert result.answer == {
        "task": "report2",
        "inputs": {
            "financial": {"task": "financial", "inputs": {}},
            "news2": {"task": "news2", "inputs": {}},
        },
    }
    carried = next(t for t in result.tasks if t.task_id == "financial")
    assert (carried.status, carried.attempts, carried.usage.total_tokens) == (
        TaskStatus.COMPLETED,
        1,
        0,
    )
    started = [e for e in rec.of_type(WorkflowStarted) if e.workflow_id == "dd.replan1"]
    assert (started[0].replans, started[0].carried) == ("dd", ["financial"])
    # The planner was told what completed, with results, and what did not, with causes.
    asked = server.requests[0]["messages"][1]["content"]
    assert asked.startswith("check the company\n\nA plan for this ran")
    lines = asked.splitlines()
    completed, undone = json.loads(lines[5]), json.loads(lines[7])
    assert completed == [
        {
            "id": "financial",
            "agent": "analyst",
            "description": "the numbers",
            "result": {"task": "financial", "inputs": {}},
        }
    ]
    assert undone == [
        {
            "id": "news",
            "agent": "analyst",
            "status": "failed",
            "error": "TaskError: the news feed is down",
        },
        {
            "id": "report",
            "agent": "analyst",
            "status": "cancelled",
            "error": "cancelled: dependency 'news' did not complete",
        },
    ]
    assert "appears twice in the plan" in server.requests[1]["messages"][-1]["content"]
    assert {e.task_id for e in rec.of_type(TaskStarted) if e.workflow_id == "dd.replan1"} == {
        "news2",
        "report2",
    }
    assert result.usage.total_tokens == sum(planner.spent[m].total_tokens for m in planner.spent)


def test_replanning_stops_after_its_rounds_and_returns_the_last_failure(bus: EventBus) -> None:
    failing = new_tasks({"id": "again", "agent": "analyst", "description": "fail"})
    with (
        FakeLLMServer([failing, failing, failing]) as server,
        Team([Analyst.child_spec("analyst", bus)], bus=bus) as team,
    ):
        planner = Planner(server.client(), "m", AGENTS)
        result = team.run(PLAN, workflow_id="dd", replan=Replan(planner, "x", max_rounds=2))
    assert len(server.requests) == 2
    assert result.status is TaskStatus.FAILED
    chain = []
    link: WorkflowResult | None = result
    while link is not None:
        chain.append(link.workflow_id)
        link = link.replanned_from
    assert chain == ["dd.replan2", "dd.replan1", "dd"]
    assert result.missing == {"again": "failed: TaskError: the news feed is down"}


def test_a_workflow_that_completes_is_not_replanned_and_rounds_are_at_least_one(
    bus: EventBus,
) -> None:
    with FakeLLMServer([]) as server, Team([Analyst.child_spec("analyst", bus)], bus=bus) as team:
        planner = Planner(server.client(), "m", AGENTS)
        ok = Plan(tasks=(Task(id="a", agent="analyst"),))
        assert team.run(ok, replan=Replan(planner, "x")).ok
    assert server.requests == []
    with pytest.raises(ConfigurationError, match=r"max_rounds=0\) must re-plan at least once"):
        Replan(planner, "x", max_rounds=0)
