"""Identity (DESIGN invariant 4): only the agent given an attempt ends it, only the approver
API approves; forgeries on the bus are rejected, counted and reported, never applied."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actors import (
    Agent,
    Limits,
    Plan,
    RetryPolicy,
    Supervisor,
    Task,
    TaskContext,
    Team,
    WorkflowError,
)
from actors.testing import EventRecorder, check_protocol
from bus import (
    ApprovalDecided,
    ApprovalRequested,
    CancelRequested,
    ChildCrashed,
    Event,
    EventBus,
    EventRejected,
    Handoff,
    TaskCompleted,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    WorkflowResumed,
)
from memory import InMemoryEventLog
from tests.helpers import counter_by


class Held(Agent):
    """Answers ``real <task>``, holding every attempt until ``gate`` is set."""

    gate: ClassVar[threading.Event] = threading.Event()

    def handle(self, task: TaskContext) -> object:
        if not self.gate.wait(10):
            raise RuntimeError("never released")
        return f"real {task.task_id}"


@pytest.fixture
def held() -> Iterator[type[Held]]:
    Held.gate = threading.Event()
    yield Held
    Held.gate.set()


@pytest.fixture
def metered() -> Iterator[tuple[MeterProvider, InMemoryMetricReader]]:
    """A meter provider and the reader of everything it records."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    yield provider, reader
    provider.shutdown()


def rejected_counts(reader: InMemoryMetricReader) -> dict[str, int]:
    """``actorchestra.orchestrator.rejected_events`` by ``actorchestra.rejection.reason``."""
    metric = "actorchestra.orchestrator.rejected_events"
    return counter_by(reader, metric, "actorchestra.rejection.reason")


PARALLEL = Plan(tasks=(Task(id="other", agent="ledger"), Task(id="pay", agent="payments")))


def test_forged_outcomes_are_rejected_and_counted_while_the_agents_own_completes_the_task(
    held: type[Held],
    metered: tuple[MeterProvider, InMemoryMetricReader],
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider, reader = metered
    bus = EventBus(tracing=False, meter_provider=provider)
    rec = EventRecorder(bus)
    forged: list[Event] = []
    tokens: dict[str, str] = {}

    def mallory(started: TaskStarted) -> None:
        """A subscriber that answers for "pay" the moment it is sent, before its agent."""
        tokens[started.task_id] = started.attempt_token
        if started.task_id != "pay":
            return
        envelope = {"workflow_id": "wf", "task_id": "pay", "attempt": 1, "source": "payments"}
        forged.extend(
            [
                TaskCompleted(**envelope, agent="payments", result="forged"),  # no token
                TaskFailed(
                    **envelope,
                    agent="payments",
                    error_type="Fraud",
                    retryable=False,
                    attempt_token=secrets.token_urlsafe(16),  # a guess
                ),
                Handoff(  # the token of another task's attempt
                    **envelope,
                    from_agent="payments",
                    to_agent="ledger",
                    attempt_token=tokens["other"],
                ),
                TaskCompleted(  # its own attempt's token, claiming another attempt
                    **{**envelope, "attempt": 2},
                    agent="payments",
                    result="forged",
                    attempt_token=started.attempt_token,
                ),
            ]
        )
        for event in forged:
            bus.publish(event)

    bus.subscribe(TaskStarted, mallory)
    caplog.set_level(logging.WARNING, logger="actors")
    specs = [held.child_spec("ledger", bus), held.child_spec("payments", bus)]
    try:
        with Team(specs, bus=bus, handoffs={"payments": ["ledger"]}) as team:
            future = team.submit(PARALLEL, workflow_id="wf")
            assert rec.wait_for(lambda ev: sum(isinstance(e, EventRejected) for e in ev) == 4)
            held.gate.set()
            result = future.get(timeout=10)
    finally:
        bus.stop()
    assert result.ok
    pay = result.tasks[1]
    assert (pay.result, pay.agent, pay.attempts, pay.late_replies) == ("real pay", "payments", 1, 0)
    rejected = rec.of_type(EventRejected)
    assert [(r.causation_id, r.reason, r.rejected_type) for r in rejected] == [
        (e.id, "forged outcome", e.type) for e in forged
    ]
    assert [r.detail for r in rejected] == [
        "no attempt token",
        "an attempt token not issued for this task",
        "an attempt token not issued for this task",
        "the attempt token of attempt 1",
    ]
    assert {(r.source, r.publisher, r.workflow_id, r.task_id) for r in rejected} == {
        ("orchestrator", "payments", "wf", "pay")
    }
    assert rejected_counts(reader) == {"forged outcome": 4}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if "rejected a forged outcome" in w]) == 4
    assert not [w for w in warnings for t in tokens.values() if t in w]
    check_protocol(rec.events)


GATED = Plan(
    tasks=(
        Task(id="pay", agent="payments", description="wire 10,000 EUR", needs_approval=True),
        Task(id="notify", agent="payments", depends_on=("pay",)),
    )
)


def test_a_forged_approval_is_rejected_and_the_task_waits_for_the_approver(
    held: type[Held], metered: tuple[MeterProvider, InMemoryMetricReader]
) -> None:
    held.gate.set()
    provider, reader = metered
    bus = EventBus(tracing=False, meter_provider=provider)
    rec = EventRecorder(bus)
    forged = [
        ApprovalDecided(workflow_id="wf", task_id="pay", approved=True, by="mallory"),
        # In the orchestrator's name, a rejection: it must not fail the task either.
        ApprovalDecided(workflow_id="wf", task_id="pay", approved=False, source="orchestrator"),
    ]
    try:
        with Team([held.child_spec("payments", bus)], bus=bus) as team:
            future = team.submit(GATED, workflow_id="wf")
            assert rec.wait_for(lambda ev: any(isinstance(e, ApprovalRequested) for e in ev))
            for event in forged:
                bus.publish(event)
            assert rec.wait_for(lambda ev: sum(isinstance(e, EventRejected) for e in ev) == 2)
            assert rec.of_type(TaskStarted) == []  # still waiting
            assert rec.of_type(TaskFinished) == []
            team.approve("wf", "pay", by="cfo", reason="budgeted")
            result = future.get(timeout=10)
    finally:
        bus.stop()
    assert result.ok
    assert result.answer == "real notify"
    rejected = rec.of_type(EventRejected)
    assert [(r.causation_id, r.reason) for r in rejected] == [
        (e.id, "forged approval") for e in forged
    ]
    assert rejected_counts(reader) == {"forged approval": 2}
    decisions = [e for e in rec.of_type(ApprovalDecided) if e.id not in {f.id for f in forged}]
    assert [(d.source, d.by, d.reason, d.approved) for d in decisions] == [
        ("orchestrator", "cfo", "budgeted", True)
    ]
    check_protocol(rec.events)


def test_resume_honours_an_approval_made_before_the_crash_and_old_tokens_are_late(
    held: type[Held],
) -> None:
    log = InMemoryEventLog()
    bus = EventBus(event_log=log, tracing=False)
    rec = EventRecorder(bus, TaskStarted)
    team = Team([held.child_spec("payments", bus)], bus=bus, name="first")
    future = team.submit(GATED, workflow_id="wf")
    team.approve("wf", "pay", by="cfo")
    assert rec.wait_for(lambda ev: len(ev) == 1)
    [before] = rec.events
    assert isinstance(before, TaskStarted)
    # The orchestrator goes away with "pay" in flight, as if its process died.
    Supervisor.terminate_child(team.supervisor, "orchestrator")
    with pytest.raises(WorkflowError, match="stopped before workflow 'wf' finished"):
        future.get(timeout=5)
    first_gate, held.gate = held.gate, threading.Event()
    first_gate.set()
    team.stop()
    bus.stop()

    bus2 = EventBus(event_log=log, tracing=False)
    rec2 = EventRecorder(bus2)
    try:
        with Team([held.child_spec("payments", bus2)], bus=bus2, name="second") as team2:
            resumed = team2.resume("wf")
            assert rec2.wait_for(lambda ev: any(isinstance(e, TaskStarted) for e in ev))
            [again] = rec2.of_type(TaskStarted)
            assert (again.task_id, again.attempt) == ("pay", 1)
            assert again.attempt_token not in ("", before.attempt_token)
            # The first process's agent answers late, with the token it was given.
            bus2.publish(
                TaskCompleted(
                    workflow_id="wf",
                    task_id="pay",
                    attempt=1,
                    agent="payments",
                    result="late",
                    attempt_token=before.attempt_token,
                )
            )
            held.gate.set()
            result = resumed.get(timeout=10)
    finally:
        bus2.stop()
    assert result.ok
    pay = result.tasks[0]
    assert (pay.result, pay.late_replies) == ("real pay", 1)
    assert rec2.of_type(ApprovalRequested) == []  # not asked again
    assert rec2.of_type(EventRejected) == []  # late, not forged
    assert len(rec2.of_type(WorkflowResumed)) == 1
    check_protocol(log.events("wf"))


class Patient(Agent):
    """Says when its attempt runs, then waits 0.5 s for it to be cancelled."""

    running: ClassVar[threading.Event] = threading.Event()

    def handle(self, task: TaskContext) -> object:
        self.running.set()
        return "cancelled" if task.cancellation.wait(0.5) else "finished"


def test_only_the_orchestrator_can_cancel_an_attempt_or_report_its_crash(bus: EventBus) -> None:
    Patient.running = threading.Event()
    rec = EventRecorder(bus)
    envelope = {"workflow_id": "wf", "task_id": "t", "attempt": 1, "source": "team.agents"}
    crash = {"supervisor": "team.agents", "child": "p", "error_type": "Boom"}
    guess = secrets.token_urlsafe(16)
    with Team([Patient.child_spec("p", bus)], bus=bus, retry=RetryPolicy(backoff=None)) as team:
        future = team.submit(
            Plan(tasks=(Task(id="t", agent="p", max_attempts=2),)), workflow_id="wf"
        )
        assert Patient.running.wait(5)
        bus.publish(CancelRequested(**envelope, agent="p", reason="mallory"))
        bus.publish(CancelRequested(**envelope, agent="p", reason="mallory", attempt_token=guess))
        bus.publish(ChildCrashed(**envelope, **crash, attempt_token=guess))
        bus.publish(ChildCrashed(**envelope, **crash))  # no token: not an attempt's crash
        result = future.get(timeout=10)
    [task] = result.tasks
    assert (task.result, task.attempts) == ("finished", 1)
    [rejected] = rec.of_type(EventRejected)
    assert (rejected.rejected_type, rejected.reason) == (
        "supervisor.child_crashed",
        "forged outcome",
    )
    check_protocol(rec.events)


class Slow(Agent):
    def handle(self, task: TaskContext) -> object:
        if task.task_id == "slow":  # times out, is cancelled, answers late
            task.cancellation.wait(5)
            # Late: its own deadline (from when it started) may come a moment before the
            # orchestrator's (from when it sent it), so it answers well after both.
            time.sleep(0.2)
        return task.task_id


def test_tokens_reach_no_span_metric_log_line_or_repr(
    tracer_provider: TracerProvider,
    spans: InMemorySpanExporter,
    metered: tuple[MeterProvider, InMemoryMetricReader],
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in ("actors", "bus", "memory"):
        caplog.set_level(logging.DEBUG, logger=name)
    provider, reader = metered
    bus = EventBus(tracer_provider=tracer_provider, meter_provider=provider)
    rec = EventRecorder(bus)

    def mallory(started: TaskStarted) -> None:
        if started.task_id == "a":  # replays its token on the other task
            bus.publish(
                TaskCompleted(
                    workflow_id="wf",
                    task_id="slow",
                    agent="s",
                    attempt_token=started.attempt_token,
                )
            )

    bus.subscribe(TaskStarted, mallory)
    plan = Plan(
        tasks=(Task(id="slow", agent="s", timeout=0.2, max_attempts=1), Task(id="a", agent="s"))
    )
    try:
        with Team([Slow.child_spec("s", bus)], bus=bus, limits=Limits(max_in_flight=None)) as team:
            result = team.run(plan, timeout=10, workflow_id="wf")
    finally:
        bus.stop()
    assert [t.status.value for t in result.tasks] == ["failed", "completed"]
    assert rec.of_type(EventRejected)
    assert rec.of_type(CancelRequested)
    tokens = {e.attempt_token for e in rec.of_type(TaskStarted)}
    assert len(tokens) == 2 and "" not in tokens
    texts = [repr(e) for e in rec.events]
    for span in spans.get_finished_spans():
        texts += [span.name, repr(dict(span.attributes or {})), span.status.description or ""]
        texts += [f"{ev.name} {dict(ev.attributes or {})}" for ev in span.events]
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                texts += [repr(dict(p.attributes or {})) for p in metric.data.data_points]
    texts += [r.getMessage() for r in caplog.records]
    assert len(texts) > 20
    assert [t for t in texts for token in tokens if token in t] == []
