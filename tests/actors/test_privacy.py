"""With content capture off, no model text reaches spans, the event log or log records."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Literal

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel, ValidationError, field_validator

from actors import LLMAgent, Plan, Planner, PlanningError, Task, TaskStatus, Team
from actors.testing import FakeLLMServer, Reply
from bus import EventBus, Telemetry
from bus._errors import describe_validation_error
from memory import SQLiteEventLog

SECRET = "Patient Jane Roe, SSN 078-05-1120"


class Verdict(BaseModel):
    risk: int


def _span_text(span: ReadableSpan) -> str:
    parts = [span.name, repr(dict(span.attributes or {})), span.status.description or ""]
    for event in span.events:
        parts += [event.name, repr(dict(event.attributes or {}))]
    return "\n".join(parts)


@pytest.fixture
def our_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in ("actors", "bus", "memory"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _assert_nowhere(
    spans: InMemorySpanExporter, our_logs: pytest.LogCaptureFixture, db: Path | None = None
) -> None:
    traced = [_span_text(s) for s in spans.get_finished_spans()]
    assert traced
    assert not [t for t in traced if SECRET in t]
    logged = [r.getMessage() + str(r.exc_info or "") for r in our_logs.records]
    assert not [m for m in logged if SECRET in m]
    if db is not None:
        conn = sqlite3.connect(db)
        rows = conn.execute("SELECT data FROM events").fetchall()
        conn.close()
        assert rows
        assert not [data for (data,) in rows if SECRET in data]


def test_output_failing_its_schema_leaves_no_model_text_in_telemetry_or_the_log(
    tmp_path: Path,
    tracer_provider: TracerProvider,
    spans: InMemorySpanExporter,
    our_logs: pytest.LogCaptureFixture,
) -> None:
    log = SQLiteEventLog(tmp_path / "log.db")
    bus = EventBus(tracer_provider=tracer_provider, event_log=log)
    prompts: list[str] = []

    def responder(request: dict[str, object]) -> Reply:
        messages = request["messages"]
        assert isinstance(messages, list)
        prompts.append(str(messages[-1]))
        return Reply.json({"risk": SECRET})

    try:
        with FakeLLMServer(responder) as server:
            spec = LLMAgent.child_spec(
                "risk",
                bus,
                client=server.client(),
                model="m",
                output_type=Verdict,
                max_iterations=2,
            )
            with Team([spec], bus=bus) as team:
                plan = Plan(tasks=(Task(id="t1", agent="risk", max_attempts=1),))
                result = team.run(plan, timeout=20)
        [task] = result.tasks
        assert task.status is TaskStatus.FAILED
        assert task.error == (
            "LLMOutputError: Agent 'risk' gave no valid answer to task 't1' within 2 model "
            "calls; last, its answer failed the Verdict schema: risk: Input should be a "
            "valid integer, unable to parse string as an integer."
        )
        assert SECRET in prompts[-1]  # the model itself is shown what was wrong
    finally:
        bus.stop()
        log.close()
    _assert_nowhere(spans, our_logs, tmp_path / "log.db")


def test_a_plan_failing_its_schema_leaves_no_model_text_in_telemetry(
    tracer_provider: TracerProvider,
    spans: InMemorySpanExporter,
    our_logs: pytest.LogCaptureFixture,
) -> None:
    bad = Reply.json({"tasks": [{"id": "t1", "agent": "risk", "priority": SECRET}]})
    with FakeLLMServer([bad, bad]) as server:
        planner = Planner(
            server.client(),
            "m",
            {"risk": "rates risk"},
            max_attempts=2,
            telemetry=Telemetry(tracer_provider),
        )
        with pytest.raises(
            PlanningError,
            match=r"^The model gave no valid plan in 2 attempts; last error: "
            r"tasks\.0\.priority: Input should be a valid integer, unable to parse string "
            r"as an integer; tasks: Tuple should have at least 1 item after validation, not 0$",
        ):
            planner.plan("assess the risk")
    _assert_nowhere(spans, our_logs)


def test_validation_errors_are_described_without_the_input() -> None:
    class Reading(BaseModel):
        scores: dict[str, int]
        kind: Literal["a", "b"]

        @field_validator("kind", mode="before")
        @classmethod
        def _loud(cls, value: object) -> object:
            if value == SECRET:
                raise ValueError(f"bad value {value}")
            return value

    with pytest.raises(ValidationError) as info:
        Reading.model_validate({"scores": {SECRET: "x"}, "kind": SECRET})
    text = describe_validation_error(info.value)
    assert SECRET not in text
    assert text == (
        "scores.*: Input should be a valid integer, unable to parse string as an integer; "
        "kind: value_error"
    )
