"""Triggers (``Team.on``): a workflow per matching event, once per key, across restarts."""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actors import Agent, ConfigurationError, Plan, Task, TaskContext, Team
from actors.lowlevel import trigger_workflow_id
from actors.testing import EventRecorder
from bus import (
    ChildCrashed,
    Event,
    EventBus,
    ExternalEvent,
    TriggerFailed,
    WorkflowFinished,
    WorkflowStarted,
)
from memory import SQLiteEventLog


class TicketOpened(Event):
    """A user's own event type."""

    type: Literal["test.ticket_opened"] = "test.ticket_opened"
    ticket: str
    text: str = ""


class Echo(Agent):
    def handle(self, task: TaskContext) -> object:
        return task.description


def answer(event: TicketOpened) -> Plan:
    return Plan(tasks=[Task(id="answer", agent="helpdesk", description=event.text)])


def by_ticket(event: TicketOpened) -> str:
    return event.ticket


@pytest.fixture
def team(bus: EventBus) -> Iterator[Team]:
    with Team([Echo.child_spec("helpdesk", bus)], bus=bus) as t:
        yield t


def finished(recorder: EventRecorder, count: int) -> bool:
    """Wait until ``count`` workflows finished."""
    return recorder.wait_for(lambda ev: sum(isinstance(e, WorkflowFinished) for e in ev) >= count)


def test_a_stream_with_duplicate_keys_starts_one_workflow_per_key(
    bus: EventBus, team: Team
) -> None:
    recorder = EventRecorder(bus)
    rng = random.Random(17)
    keys = [f"T-{rng.randrange(40)}" for _ in range(1000)]
    trigger = team.on(TicketOpened, answer, key=by_ticket)
    for key in keys:
        bus.publish(TicketOpened(ticket=key, text=key))
    trigger.wait_idle()
    assert finished(recorder, len(set(keys)))
    started = Counter(e.workflow_id for e in recorder.of_type(WorkflowStarted))
    assert set(started) == {trigger_workflow_id("test.ticket_opened", k) for k in set(keys)}
    assert set(started.values()) == {1}
    stats = trigger.statistics()
    assert (stats.matched, stats.started, stats.failed) == (1000, len(set(keys)), 0)
    assert stats.duplicates == 1000 - len(set(keys))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=30))
def test_each_key_of_a_random_stream_starts_exactly_one_workflow(keys: list[int]) -> None:
    bus = EventBus(tracing=False)
    recorder = EventRecorder(bus, WorkflowStarted)
    try:
        with Team([Echo.child_spec("helpdesk", bus)], bus=bus) as team:
            trigger = team.on(TicketOpened, answer, key=by_ticket)
            for key in keys:
                bus.publish(TicketOpened(ticket=str(key)))
            trigger.wait_idle()
            assert recorder.wait_for(lambda ev: len(ev) >= len(set(keys)))
            ids = [e.workflow_id for e in recorder.of_type(WorkflowStarted)]
            assert sorted(ids) == sorted(
                trigger_workflow_id("test.ticket_opened", str(k)) for k in set(keys)
            )
            assert trigger.statistics().started == len(set(keys))
    finally:
        bus.stop()


def test_replaying_after_a_restart_with_an_event_log_starts_none_again(tmp_path: Path) -> None:
    stream = [TicketOpened(ticket=f"T-{i % 50}", text="help") for i in range(1000)]
    log = SQLiteEventLog(tmp_path / "events.db")
    bus = EventBus(tracing=False, event_log=log)
    recorder = EventRecorder(bus, WorkflowFinished)
    with Team([Echo.child_spec("helpdesk", bus)], bus=bus) as team:
        first = team.on(TicketOpened, answer, key=by_ticket)
        for event in stream:
            bus.publish(event)
        first.wait_idle()
        assert finished(recorder, 50)
    assert first.statistics().started == 50
    bus.stop()
    log.close()

    log = SQLiteEventLog(tmp_path / "events.db")  # the process restarted
    bus = EventBus(tracing=False, event_log=log)
    recorder = EventRecorder(bus, WorkflowStarted)
    try:
        with Team([Echo.child_spec("helpdesk", bus)], bus=bus) as team:
            again = team.on(TicketOpened, answer, key=by_ticket)
            for event in stream:
                bus.publish(event)
            bus.publish(TicketOpened(ticket="T-new"))
            again.wait_idle()
            assert recorder.wait_for(lambda ev: len(ev) >= 1)
            started = [e.workflow_id for e in recorder.of_type(WorkflowStarted)]
            assert started == [trigger_workflow_id("test.ticket_opened", "T-new")]
            stats = again.statistics()
            assert (stats.started, stats.duplicates) == (1, 1000)
    finally:
        bus.stop()
        log.close()


def test_where_filters_the_events_that_trigger(bus: EventBus, team: Team) -> None:
    recorder = EventRecorder(bus, WorkflowStarted)
    trigger = team.on(TicketOpened, answer, where=lambda e: e.text.startswith("urgent"))
    for text in ("urgent: down", "a question", "urgent: slow", "thanks"):
        bus.publish(TicketOpened(ticket=text, text=text))
    trigger.wait_idle()
    assert recorder.wait_for(lambda ev: len(ev) >= 2)
    assert trigger.statistics().matched == 2
    plans = [e.plan["tasks"][0]["description"] for e in recorder.of_type(WorkflowStarted)]  # type: ignore[index,call-overload]
    assert plans == ["urgent: down", "urgent: slow"]


def test_an_external_event_triggers_by_its_cloudevents_type(bus: EventBus, team: Team) -> None:
    recorder = EventRecorder(bus, WorkflowStarted)

    def plan(event: ExternalEvent) -> Plan:
        return Plan(tasks=[Task(id="t", agent="helpdesk", description=str(event.data))])

    trigger = team.on(
        ExternalEvent,
        plan,
        where=lambda e: e.ce_type == "com.example.order.created",
        key=lambda e: e.subject,
        name="orders",
    )
    for subject, ce_type in [("o1", "com.example.order.created"), ("o2", "com.other"), ("o1", "com.example.order.created")]:  # fmt: skip
        bus.publish(ExternalEvent(ce_type=ce_type, ce_source="/shop", subject=subject, data=1))
    trigger.wait_idle()
    assert recorder.wait_for(lambda ev: len(ev) >= 1)
    assert [e.workflow_id for e in recorder.events] == [trigger_workflow_id("orders", "o1")]
    assert [e.name for e in recorder.of_type(WorkflowStarted)] == ["orders"]


def test_a_failing_trigger_is_reported_and_later_events_still_trigger(
    bus: EventBus, team: Team, caplog: pytest.LogCaptureFixture
) -> None:
    failures = EventRecorder(bus, TriggerFailed)
    started = EventRecorder(bus, WorkflowStarted)

    def plan(event: TicketOpened) -> Plan:
        if event.text == "raise":
            raise ValueError("no plan for this one")
        if event.text == "unknown agent":
            return Plan(tasks=[Task(id="t", agent="nobody")])
        if event.text == "invalid":
            return Plan(tasks=[])  # pydantic refuses it
        return answer(event)

    trigger = team.on(TicketOpened, plan, key=by_ticket)
    bad = [TicketOpened(ticket=f"T-{text}", text=text) for text in ("raise", "unknown agent", "invalid")]  # fmt: skip
    with caplog.at_level(logging.ERROR, logger="actors"):
        for event in bad:
            bus.publish(event)
        bus.publish(TicketOpened(ticket="T-raise", text="fine now"))  # the key stayed free
        bus.publish(TicketOpened(ticket="T-ok", text="fine"))
        trigger.wait_idle()
    assert started.wait_for(lambda ev: len(ev) >= 2)
    assert [e.workflow_id for e in started.events] == [
        trigger_workflow_id("test.ticket_opened", "T-raise"),
        trigger_workflow_id("test.ticket_opened", "T-ok"),
    ]
    got = [(f.causation_id, f.key, f.error_type) for f in failures.of_type(TriggerFailed)]
    assert got == [
        (bad[0].id, "T-raise", "ValueError"),
        (bad[1].id, "T-unknown agent", "PlanValidationError"),
        (bad[2].id, "T-invalid", "ValidationError"),
    ]
    assert "tasks: " in failures.of_type(TriggerFailed)[2].message  # described, not quoted
    assert trigger.statistics().failed == 3
    assert sum("could not start a workflow" in r.getMessage() for r in caplog.records) == 3


def test_a_key_function_that_raises_or_returns_no_str_is_reported(
    bus: EventBus, team: Team
) -> None:
    failures = EventRecorder(bus, TriggerFailed)

    def bad_key(event: TicketOpened) -> str:
        return {"a": 1}[event.ticket]  # type: ignore[return-value]

    trigger = team.on(TicketOpened, answer, key=bad_key)
    bus.publish(TicketOpened(ticket="b"))
    bus.publish(TicketOpened(ticket="a"))
    trigger.wait_idle()
    assert failures.wait_for(lambda ev: len(ev) >= 2)
    assert [(f.key, f.error_type) for f in failures.of_type(TriggerFailed)] == [
        ("", "KeyError"),
        ("", "TypeError"),
    ]


def test_the_plan_factory_runs_off_the_publishers_thread(bus: EventBus, team: Team) -> None:
    release, threads = threading.Event(), []

    def slow(event: TicketOpened) -> Plan:
        threads.append(threading.get_ident())
        assert release.wait(10)
        return answer(event)

    trigger = team.on(TicketOpened, slow)
    bus.publish(TicketOpened(ticket="1"))  # returns while the factory waits
    release.set()
    trigger.wait_idle()
    assert threads and threads[0] != threading.get_ident()


def test_the_triggering_event_is_the_workflows_cause_in_the_log_and_the_trace(
    tracer_provider: TracerProvider, spans: InMemorySpanExporter
) -> None:
    bus = EventBus(tracer_provider=tracer_provider)
    recorder = EventRecorder(bus)
    try:
        with Team([Echo.child_spec("helpdesk", bus)], bus=bus) as team:
            trigger = team.on(TicketOpened, answer)
            event = TicketOpened(ticket="T-1", text="hello")
            bus.publish(event)
            trigger.wait_idle()
            assert finished(recorder, 1)
    finally:
        bus.stop()
    [workflow] = recorder.of_type(WorkflowStarted)
    assert workflow.causation_id == event.id
    assert workflow.workflow_id == trigger_workflow_id("test.ticket_opened", event.id)
    by_id = {s.context.span_id: s for s in spans.get_finished_spans()}
    [root] = [s for s in by_id.values() if s.name == "invoke_workflow test.ticket_opened"]
    [publish] = [s for s in by_id.values() if s.name == "publish test.ticket_opened"]
    chain = []
    span = root
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span.name)
    assert chain == ["process test.ticket_opened", "publish test.ticket_opened"]
    assert root.context.trace_id == publish.context.trace_id


def test_a_removed_trigger_starts_nothing_and_names_are_unique(bus: EventBus, team: Team) -> None:
    recorder = EventRecorder(bus, WorkflowStarted)
    trigger = team.on(TicketOpened, answer, key=by_ticket)
    with pytest.raises(
        ConfigurationError,
        match=r"^Team 'team' has a trigger named 'test\.ticket_opened' already; "
        r"give this one name=\.$",
    ):
        team.on(TicketOpened, answer)
    bus.publish(TicketOpened(ticket="before"))
    trigger.wait_idle()
    trigger.remove()
    trigger.remove()  # twice: nothing
    trigger.wait_idle(timeout=0.5)  # removed: idle at once
    bus.publish(TicketOpened(ticket="after"))
    assert recorder.wait_for(lambda ev: len(ev) >= 1)
    assert [e.workflow_id for e in recorder.events] == [
        trigger_workflow_id("test.ticket_opened", "before")
    ]
    assert trigger.statistics().matched == 1
    again = team.on(TicketOpened, answer, key=by_ticket)  # the name is free again
    assert again.statistics().matched == 0


def test_a_trigger_whose_factory_exits_is_restarted_and_goes_on(bus: EventBus, team: Team) -> None:
    crashes, started = EventRecorder(bus, ChildCrashed), EventRecorder(bus, WorkflowStarted)

    def plan(event: TicketOpened) -> Plan:
        if event.text == "exit":
            raise SystemExit(1)  # a BaseException: crashes the trigger's actor only
        return answer(event)

    trigger = team.on(TicketOpened, plan, key=by_ticket)
    bus.publish(TicketOpened(ticket="T-1", text="exit"))
    assert crashes.wait_for(lambda ev: len(ev) >= 1)
    bus.publish(TicketOpened(ticket="T-2", text="fine"))
    trigger.wait_idle()
    assert started.wait_for(lambda ev: len(ev) >= 1)
    assert [e.workflow_id for e in started.events] == [
        trigger_workflow_id("test.ticket_opened", "T-2")
    ]
    assert [c.child for c in crashes.of_type(ChildCrashed)] == ["team.trigger.test.ticket_opened"]
