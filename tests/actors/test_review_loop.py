"""The review loop: writer and reviewer hand a draft back and forth, at most N rounds."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actors import (
    Agent,
    ConfigurationError,
    Limits,
    LLMAgent,
    Plan,
    Review,
    ReviewLoop,
    ReviewResult,
    ReviewRound,
    Task,
    TaskContext,
    TaskResult,
    TaskStatus,
    Team,
)
from actors.testing import EventRecorder, FakeLLMServer, Reply, check_protocol
from bus import EventBus, Handoff

LOOP = ReviewLoop("writer", "reviewer", max_rounds=3)


def write(task: TaskContext, current: ReviewRound) -> str:
    if current.round == 1:
        return f"draft 1 on {task.description}"
    return f"draft {current.round} ({current.feedback})"


def approve_round(n: int) -> Any:
    def review(task: TaskContext, current: ReviewRound) -> Review:
        if current.round == n:
            return Review(approved=True, feedback="good")
        return Review(approved=False, feedback=f"fix {current.round}")

    return review


def run_loop(
    bus: EventBus, writer: Any, reviewer: Any, loop: ReviewLoop = LOOP, **kwargs: Any
) -> tuple[TaskResult, EventRecorder]:
    recorder = EventRecorder(bus)
    specs = [loop.writer_spec(bus, writer, **kwargs), loop.reviewer_spec(bus, reviewer, **kwargs)]
    plan = Plan(tasks=[Task(id="t", agent="writer", description="tides", max_attempts=2)])
    with Team(specs, bus=bus, handoffs=loop.handoffs, limits=loop.limits()) as team:
        [task] = team.run(plan, timeout=20).tasks
    check_protocol(recorder.events)
    return task, recorder


def test_revised_twice_then_approved(traced_bus: EventBus, spans: InMemorySpanExporter) -> None:
    task, recorder = run_loop(traced_bus, write, approve_round(3))
    assert (task.status, task.agent, task.attempts) == (TaskStatus.COMPLETED, "reviewer", 1)
    assert ReviewResult.model_validate(task.result) == ReviewResult(
        draft="draft 3 (fix 2)", approved=True, rounds=3, feedback="good"
    )
    moves = [
        (h.from_agent, h.to_agent, h.reason, ReviewRound.model_validate(h.context))
        for h in recorder.of_type(Handoff)
    ]
    assert moves == [
        (
            "writer",
            "reviewer",
            "draft 1 of at most 3",
            ReviewRound(round=1, max_rounds=3, draft="draft 1 on tides"),
        ),
        (
            "reviewer",
            "writer",
            "revise: round 2 of at most 3",
            ReviewRound(round=2, max_rounds=3, draft="draft 1 on tides", feedback="fix 1"),
        ),
        (
            "writer",
            "reviewer",
            "draft 2 of at most 3",
            ReviewRound(round=2, max_rounds=3, draft="draft 2 (fix 1)", feedback="fix 1"),
        ),
        (
            "reviewer",
            "writer",
            "revise: round 3 of at most 3",
            ReviewRound(
                round=3, max_rounds=3, last_round=True, draft="draft 2 (fix 1)", feedback="fix 2"
            ),
        ),
        (
            "writer",
            "reviewer",
            "draft 3 of at most 3",
            ReviewRound(
                round=3, max_rounds=3, last_round=True, draft="draft 3 (fix 2)", feedback="fix 2"
            ),
        ),
    ]
    # Every round is in the trace: a handoff event each, and the agents' spans say which.
    finished = spans.get_finished_spans()
    [workflow] = [s for s in finished if s.name.startswith("invoke_workflow")]
    depths = [
        e.attributes["actorchestra.handoff.depth"]
        for e in workflow.events
        if e.name == "handoff" and e.attributes is not None
    ]
    assert depths == [1, 2, 3, 4, 5]
    reviews = [
        (s.attributes["actorchestra.review.round"], s.attributes["actorchestra.review.approved"])
        for s in finished
        if s.attributes and "actorchestra.review.approved" in s.attributes
    ]
    assert sorted(reviews) == [(1, False), (2, False), (3, True)]


def test_capped_after_max_rounds_with_a_warning_one_round_before(
    bus: EventBus, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[ReviewRound] = []

    def writer(task: TaskContext, current: ReviewRound) -> str:
        seen.append(current)
        return write(task, current)

    with caplog.at_level(logging.INFO, logger="actors"):
        task, _ = run_loop(bus, writer, approve_round(0))
    assert task.status is TaskStatus.COMPLETED
    assert ReviewResult.model_validate(task.result) == ReviewResult(
        draft="draft 3 (fix 2)", approved=False, rounds=3, feedback="fix 3"
    )
    assert [(r.round, r.last_round) for r in seen] == [(1, False), (2, False), (3, True)]
    records = [(r.levelname, r.getMessage()) for r in caplog.records if "Review loop" in r.msg]
    assert records == [
        (
            "WARNING",
            "Review loop task t: writer 'writer' starts round 3, the last of max_rounds=3; "
            "the verdict on this draft ends the loop",
        ),
        ("INFO", "Review loop task t ended unapproved after max_rounds=3"),
    ]


def test_one_round_is_the_last_from_the_start_and_warns_nobody(
    bus: EventBus, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[ReviewRound] = []

    def writer(task: TaskContext, current: ReviewRound) -> str:
        seen.append(current)
        return "only draft"

    loop = ReviewLoop("writer", "reviewer", max_rounds=1)
    task, recorder = run_loop(bus, writer, approve_round(0), loop=loop)
    assert seen == [ReviewRound(round=1, max_rounds=1, last_round=True)]
    assert task.result == {
        "draft": "only draft",
        "approved": False,
        "rounds": 1,
        "feedback": "fix 1",
    }
    assert len(recorder.of_type(Handoff)) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


class Writer(Agent):
    """A hand-written writer: reads its round from the context, like any handed-over one."""

    def handle(self, task: TaskContext) -> object:
        current = task.handed_over(ReviewRound)
        return {"text": f"v{current.round}", "addressed": current.feedback}


class Reviewer(Agent):
    crashed = threading.Event()

    def handle(self, task: TaskContext) -> object:
        current = task.handed_over(ReviewRound)
        if current.round == 2 and not Reviewer.crashed.is_set():
            Reviewer.crashed.set()
            raise RuntimeError("the reviewer crashed")  # a crash: the attempt is retried
        return {"approved": current.round == 2, "feedback": f"after v{current.round}"}


def test_agent_classes_and_a_crash_mid_loop_retries_the_round_it_crashed_in(
    bus: EventBus,
) -> None:
    task, recorder = run_loop(bus, Writer, Reviewer)
    assert Reviewer.crashed.is_set()
    assert (task.status, task.attempts) == (TaskStatus.COMPLETED, 2)
    assert task.result == {
        "draft": {"text": "v2", "addressed": "after v1"},
        "approved": True,
        "rounds": 2,
        "feedback": "after v2",
    }
    assert [(h.from_agent, h.to_agent) for h in recorder.of_type(Handoff)] == [
        ("writer", "reviewer"),
        ("reviewer", "writer"),
        ("writer", "reviewer"),
    ]


def user_prompt(request: dict[str, Any]) -> str:
    return str(next(m["content"] for m in request["messages"] if m["role"] == "user"))


def test_llm_writer_and_reviewer_over_the_local_server_revise_twice_then_approve(
    bus: EventBus,
) -> None:
    def responder(request: dict[str, Any]) -> Reply:
        prompt = user_prompt(request)
        _, _, handed = prompt.partition("(ReviewRound) (JSON):\n")
        current = ReviewRound.model_validate_json(handed)
        if "response_format" in request:  # the reviewer: a Review, as structured output
            assert request["response_format"]["json_schema"]["name"] == "Review"
            approved = current.round == 3
            return Reply.json({"approved": approved, "feedback": f"shorter than {current.draft}"})
        return Reply.text(f"v{current.round} after: {current.feedback or 'nothing'}")

    with FakeLLMServer(responder) as server:
        task, _ = run_loop(bus, LLMAgent, LLMAgent, client=server.client(), model="m")
    assert ReviewResult.model_validate(task.result) == ReviewResult(
        draft="v3 after: shorter than v2 after: shorter than v1 after: nothing",
        approved=True,
        rounds=3,
        feedback="shorter than v3 after: shorter than v2 after: shorter than v1 after: nothing",
    )
    assert len(server.requests) == 6
    last_writer_prompt = user_prompt(server.requests[4])
    assert "Agent 'reviewer' handed this task over to you because: revise: round 3" in (
        last_writer_prompt
    )
    assert json.loads(last_writer_prompt.partition("(JSON):\n")[2])["last_round"] is True


def test_the_limits_must_let_every_round_run() -> None:
    loop = ReviewLoop("w", "r", max_rounds=4)
    assert loop.limits().max_handoffs == 7
    assert LOOP.limits() == Limits()
    fits = Limits(max_handoffs=7, max_steps=8)
    assert loop.limits(fits) is fits
    with pytest.raises(ConfigurationError) as raised:
        loop.limits(Limits(max_steps=5))
    assert str(raised.value) == (
        "ReviewLoop 'w' <-> 'r' of max_rounds=4 needs Limits max_handoffs >= 7, got 5 and "
        "max_steps >= 8, got 5; raise the limits or lower max_rounds."
    )


@pytest.mark.parametrize(
    ("writer", "reviewer", "rounds"), [("a", "a", 3), ("a", "b", 0)], ids=["same", "zero"]
)
def test_a_loop_needs_two_agents_and_a_round(writer: str, reviewer: str, rounds: int) -> None:
    with pytest.raises(ConfigurationError) as raised:
        ReviewLoop(writer, reviewer, max_rounds=rounds)
    assert str(raised.value) == (
        f"ReviewLoop({writer!r}, {reviewer!r}, max_rounds={rounds}) is invalid; it needs two "
        "agents and max_rounds >= 1."
    )


@pytest.mark.parametrize("work", [dict, "write"], ids=["class", "text"])
def test_the_work_is_an_agent_class_or_a_function(work: Any, bus: EventBus) -> None:
    with pytest.raises(ConfigurationError) as raised:
        LOOP.reviewer_spec(bus, work)
    assert str(raised.value) == (
        f"ReviewLoop agent 'reviewer' needs an Agent class or a function, got {work!r}."
    )


def test_the_reviewer_reviews_only_what_its_writer_hands_over(bus: EventBus) -> None:
    specs = [LOOP.writer_spec(bus, write), LOOP.reviewer_spec(bus, approve_round(1))]
    plan = Plan(tasks=[Task(id="t", agent="reviewer")])
    with Team(specs, bus=bus, handoffs=LOOP.handoffs) as team:
        [task] = team.run(plan, timeout=20).tasks
    assert (task.status, task.error) == (
        TaskStatus.FAILED,
        "TaskError: Reviewer 'reviewer' got task 't' from the plan; it reviews only drafts "
        "its writer 'writer' hands over, so plan the task for the writer.",
    )


def test_a_verdict_that_is_not_a_review_fails_the_task(bus: EventBus) -> None:
    task, _ = run_loop(bus, write, lambda task, current: {"ok": True})
    assert (task.status, task.attempts) == (TaskStatus.FAILED, 1)
    assert task.error == (
        "TaskError: Reviewer 'reviewer' returned a dict that is not a Review: approved: "
        "Field required; ok: Extra inputs are not permitted"
    )
