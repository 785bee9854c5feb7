"""Plan.to_mermaid: the DAG as a Mermaid flowchart, and a finished workflow coloured."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from actors import (
    Agent,
    Condition,
    Plan,
    Task,
    TaskContext,
    TaskError,
    TaskResult,
    TaskStatus,
    Team,
    WorkflowResult,
)
from bus import ApprovalRequested, EventBus, TokenUsage

PLAN = Plan(
    tasks=(
        Task(id="risk", agent="analyst"),
        Task(id="news", agent="analyst"),
        Task(
            id="deep dive",
            agent="analyst",
            depends_on=("risk",),
            when=Condition(input="risk", path="level", op="eq", value="high"),
        ),
        Task(
            id="report",
            agent="writer",
            depends_on=("risk", "news", "deep dive"),
            optional=("news", "deep dive"),
            needs_approval=True,
        ),
    )
)


def test_the_plan_as_a_flowchart() -> None:
    assert PLAN.to_mermaid() == "\n".join(
        [
            "flowchart TD",
            '    n0["risk<br/><small>analyst</small>"]',
            '    n1["news<br/><small>analyst</small>"]',
            '    n2["deep dive<br/><small>analyst</small>"]',
            '    n3{{"report<br/><small>writer</small>"}}',
            "    n0 -->|\"risk.level eq 'high'\"| n2",
            "    n0 --> n3",
            "    n1 -.-> n3",
            "    n2 -.-> n3",
        ]
    )


def test_labels_escape_what_mermaid_would_read_as_markup() -> None:
    plan = Plan(tasks=[Task(id='say "hi" <b>#1</b>', agent="a")])
    assert plan.to_mermaid().splitlines()[1] == (
        '    n0["say #quot;hi#quot; #lt;b#gt;#35;1#lt;/b#gt;<br/><small>a</small>"]'
    )


def test_a_finished_workflow_is_coloured_by_status(bus: EventBus) -> None:
    class Analyst(Agent):
        def handle(self, task: TaskContext) -> object:
            if task.task_id == "news":
                raise TaskError("the feed is down")
            return {"level": "low"}

    class Writer(Agent):
        def handle(self, task: TaskContext) -> object:
            return "report"

    requested = threading.Event()
    bus.subscribe(ApprovalRequested, lambda _event: requested.set())
    specs = [Analyst.child_spec("analyst", bus), Writer.child_spec("writer", bus)]
    with Team(specs, bus=bus) as team:
        future = team.submit(PLAN, workflow_id="w")
        assert requested.wait(10)
        team.approve("w", "report", approved=False, by="test")  # a rejection fails it
        result = future.get(timeout=10)
    chart = PLAN.to_mermaid(result)
    lines = chart.splitlines()
    assert lines[1] == '    n0["risk<br/><small>analyst</small><br/><i>completed</i>"]'
    assert lines[3] == '    n2["deep dive<br/><small>analyst</small><br/><i>skipped</i>"]'
    assert lines[-6:] == [
        "    classDef completed fill:#d3f9d8,stroke:#2b8a3e,color:#000",
        "    classDef failed fill:#ffe3e3,stroke:#c92a2a,color:#000",
        "    classDef skipped fill:#fff,stroke:#adb5bd,stroke-dasharray:4 3,color:#868e96",
        "    class n0 completed",
        "    class n1,n3 failed",
        "    class n2 skipped",
    ]


def test_cancelled_tasks_have_their_own_colour() -> None:
    plan = Plan(tasks=[Task(id="a", agent="x"), Task(id="b", agent="x", depends_on=("a",))])
    now = datetime.now(UTC)
    tasks = tuple(
        TaskResult(
            task_id=task_id,
            agent="x",
            status=status,
            attempts=1,
            started_at=None,
            finished_at=now,
            duration=0.0,
            usage=TokenUsage(),
        )
        for task_id, status in (("a", TaskStatus.FAILED), ("b", TaskStatus.CANCELLED))
    )
    result = WorkflowResult(
        workflow_id="w", status=TaskStatus.FAILED, tasks=tasks, answer=None, duration=0.1
    )
    assert plan.to_mermaid(result).splitlines()[-4:] == [
        "    classDef failed fill:#ffe3e3,stroke:#c92a2a,color:#000",
        "    classDef cancelled fill:#e9ecef,stroke:#495057,color:#000",
        "    class n0 failed",
        "    class n1 cancelled",
    ]
