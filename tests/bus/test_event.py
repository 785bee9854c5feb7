from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus import (
    ActorTerminated,
    ApprovalDecided,
    ApprovalRequested,
    ChildCrashed,
    ChildRestarted,
    ChildStarted,
    DeadLetter,
    Event,
    EventRejected,
    EventValidationError,
    Handoff,
    SupervisorEscalated,
    TaskCompleted,
    TaskFailed,
    TaskFinished,
    TaskProgress,
    TaskStarted,
    TokenUsage,
    WorkflowFinished,
    WorkflowStarted,
    event_class,
    parse_event,
)

names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
envelopes = st.fixed_dictionaries(
    {
        "source": names,
        "workflow_id": names,
        "task_id": names,
        "causation_id": names,
        "attempt": st.integers(1, 10),
        "time": st.datetimes(timezones=st.just(UTC)),
    }
)
usages = st.builds(
    TokenUsage, input_tokens=st.integers(0, 10**6), output_tokens=st.integers(0, 10**6)
)

events = st.one_of(
    st.builds(
        TaskStarted,
        agent=names,
        description=st.text(),
        inputs=st.dictionaries(names, json_values, max_size=3),
        attempt_token=st.text(max_size=30),
    ),
    st.builds(
        TaskCompleted, agent=names, result=json_values, usage=usages, attempt_token=st.text()
    ),
    st.builds(
        TaskFailed, agent=names, error_type=names, message=st.text(), retryable=st.booleans()
    ),
    st.builds(
        Handoff,
        from_agent=names,
        to_agent=names,
        reason=st.text(),
        context=st.dictionaries(names, json_values, max_size=3),
    ),
    st.builds(
        DeadLetter,
        subscriber=names,
        reason=names,
        event=st.dictionaries(names, json_values, max_size=3),
    ),
    st.builds(ChildStarted, supervisor=names, child=names),
    st.builds(
        ActorTerminated, actor=names, abnormal=st.booleans(), error_type=names, message=st.text()
    ),
    st.builds(ChildCrashed, supervisor=names, child=names, error_type=names, message=st.text()),
    st.builds(ChildRestarted, supervisor=names, child=names, restart_count=st.integers(1, 100)),
    st.builds(
        SupervisorEscalated,
        supervisor=names,
        restarts=st.integers(0, 10),
        period=st.floats(0.1, 60),
        fatal=st.booleans(),
    ),
    st.builds(ApprovalRequested, agent=st.text(), description=st.text()),
    st.builds(
        TaskProgress,
        agent=names,
        model_call=st.integers(1, 15),
        sequence=st.integers(0, 10**6),
        text=st.text(),
        chunks=st.integers(0, 10**6),
    ),
    st.builds(ApprovalDecided, approved=st.booleans(), by=st.text(), reason=st.text()),
    st.builds(
        EventRejected,
        reason=st.sampled_from(["forged outcome", "forged approval"]),
        rejected_type=names,
        publisher=st.text(),
        detail=st.text(),
    ),
    st.builds(
        WorkflowStarted,
        name=st.text(),
        plan=st.dictionaries(names, json_values, max_size=3),
        agents=st.lists(names, max_size=3),
    ),
    st.builds(
        TaskFinished,
        status=st.sampled_from(["completed", "failed", "cancelled"]),
        attempts=st.integers(0, 10),
        agent=st.text(),
        error=st.text(),
    ),
    st.builds(
        WorkflowFinished,
        status=st.sampled_from(["completed", "failed", "cancelled"]),
        duration=st.floats(0, 1e6),
    ),
)


@given(event=events, envelope=envelopes)
def test_every_event_type_round_trips_through_json(
    event: Event, envelope: dict[str, object]
) -> None:
    event = event.model_copy(update=envelope)
    parsed = parse_event(event.model_dump_json())
    assert type(parsed) is type(event)
    assert parsed == event
    assert parse_event(json.loads(event.model_dump_json())) == event


def test_all_event_types_are_covered_by_the_union() -> None:
    from bus._parse import _ADAPTER

    schema = json.dumps(_ADAPTER.json_schema())
    for cls in Event.__subclasses__():
        if not cls.__module__.startswith("bus."):
            continue  # a test's own event type
        assert cls.model_fields["type"].default in schema


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            "{",
            "",
            r"^Event is not valid JSON: EOF while parsing an object at line 1 column 1\.$",
        ),
        ("[]", "", r"^Event is not a JSON object\.$"),
        (
            '{"type": "task.exploded"}',
            "type",
            r"^Event field 'type' is 'task.exploded', which names no known event type\.$",
        ),
        (
            '{"type": "task.started"}',
            "agent",
            r"^TaskStarted field 'agent' is invalid: Field required\.$",
        ),
        (
            '{"type": "task.started", "agent": "a", "attempt": 0}',
            "attempt",
            r"^TaskStarted field 'attempt' is invalid: Input should be greater than or equal to 1\.$",
        ),
        (
            '{"type": "task.completed", "agent": "a", "usage": {"input_tokens": -1}}',
            "usage.input_tokens",
            r"^TaskCompleted field 'usage.input_tokens' is invalid: Input should be greater than or equal to 0\.$",
        ),
        (
            '{"type": "task.failed", "agent": "a", "error_type": "E", "colour": "red"}',
            "colour",
            r"^TaskFailed field 'colour' is invalid: Extra inputs are not permitted\.$",
        ),
    ],
)
def test_invalid_events_raise_a_typed_error_naming_the_field(
    data: str, field: str, message: str
) -> None:
    with pytest.raises(EventValidationError, match=message) as info:
        parse_event(data)
    assert info.value.field == field


def test_events_are_frozen_and_time_is_utc() -> None:
    event = TaskStarted(agent="a", time=datetime(2026, 1, 1, 12, tzinfo=UTC))
    with pytest.raises(ValueError, match="frozen"):
        event.agent = "b"  # type: ignore[misc]
    with pytest.raises(ValueError, match="Input should have timezone info"):
        TaskStarted(agent="a", time=datetime(2026, 1, 1, 12))


def test_an_attempt_token_stays_out_of_repr_and_str() -> None:
    token = "s3cr3t-t0k3n-0123456789"
    for event in (
        TaskStarted(agent="a", attempt_token=token),
        TaskCompleted(agent="a", attempt_token=token),
        TaskFailed(agent="a", error_type="E", attempt_token=token),
        Handoff(from_agent="a", to_agent="b", attempt_token=token),
        ChildCrashed(supervisor="s", child="a", error_type="E", attempt_token=token),
    ):
        assert token not in repr(event)
        assert token not in str(event)
        assert parse_event(event.model_dump_json()) == event  # it travels, though


def test_recipient_is_the_addressed_agent_for_task_started_only() -> None:
    assert TaskStarted(agent="legal").recipient == "legal"
    assert TaskCompleted(agent="legal").recipient is None


def test_building_an_event_with_a_bad_field_raises_a_typed_error_without_the_value() -> None:
    with pytest.raises(
        EventValidationError,
        match=r"^TaskFailed field 'retryable' is invalid: Input should be a valid boolean, "
        r"unable to interpret input\.$",
    ) as info:
        TaskFailed(agent="a", error_type="E", retryable="secret model text")
    assert info.value.field == "retryable"
    assert info.value.__cause__ is None
    assert "secret model text" not in str(info.value)
    assert "secret model text" not in repr(info.value.errors)
    with pytest.raises(EventValidationError, match=r"^TaskStarted field 'agent' is invalid"):
        TaskStarted(agent="")
    bad = {"agent": "a", "description": "secret model text", "attempt": 0}
    for parse in (
        TaskStarted.model_validate,
        lambda d: TaskStarted.model_validate_json(json.dumps(d)),
    ):
        with pytest.raises(EventValidationError, match=r"^TaskStarted field 'attempt'") as info:
            parse(bad)
        assert "secret model text" not in str(info.value)
        assert info.value.__cause__ is None


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_numbers_are_refused_where_they_enter_an_event(value: float) -> None:
    with pytest.raises(
        EventValidationError,
        match=r"^TaskCompleted field 'result\.dict\.k\.list\.1\.float' is invalid: "
        r"Input should be a finite number\.$",
    ):
        TaskCompleted(agent="a", result={"k": [1.5, value]})
    with pytest.raises(EventValidationError, match=r"^Handoff field 'context\.k\.float'"):
        Handoff(from_agent="a", to_agent="b", context={"k": value})
    with pytest.raises(EventValidationError, match=r"^TaskFinished field 'duration'"):
        TaskFinished(status="completed", attempts=1, duration=value)


def test_finite_extremes_survive_json_unchanged() -> None:
    values = [sys.float_info.max, -sys.float_info.max, sys.float_info.min, 5e-324, -0.0]
    event = TaskCompleted(agent="a", result=values)
    parsed = parse_event(event.model_dump_json())
    assert parsed == event
    assert isinstance(parsed, TaskCompleted)
    assert isinstance(parsed.result, list)
    assert [math.copysign(1, v) for v in parsed.result] == [1, -1, 1, 1, -1]  # type: ignore[arg-type]


class _UserEvent(Event):
    type: Literal["test.user_event"] = "test.user_event"
    price: float


def test_users_event_types_parse_back() -> None:
    event = _UserEvent(price=2.5, workflow_id="w")
    assert event_class("test.user_event") is _UserEvent
    assert event_class("task.started") is TaskStarted
    assert parse_event(event.model_dump_json()) == event
    with pytest.raises(EventValidationError, match=r"^_UserEvent field 'price' is invalid"):
        parse_event({"type": "test.user_event"})
