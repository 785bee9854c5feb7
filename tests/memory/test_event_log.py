"""The event log: order, queries, trace context, retention (SQLite against the in-memory log).

The contract tests run against the JetStream log too (a real ``nats-server`` on loopback).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actors.testing.nats_server import NatsServer
from bus import (
    EVENT_SCHEMA_VERSION,
    ChildStarted,
    Event,
    EventBus,
    NatsTransport,
    TaskCompleted,
    TaskFinished,
    TaskStarted,
    WorkflowFinished,
    WorkflowStarted,
)
from bus import (
    ConfigurationError as BusConfigurationError,
)
from bus.lowlevel import Envelope
from memory import (
    ConfigurationError,
    EventLog,
    InMemoryEventLog,
    JetStreamEventLog,
    MemoryStoreError,
    Retention,
    SQLiteEventLog,
    SQLiteStore,
)
from tests.helpers import ROOT, seed_event_log

PLAN = {"tasks": [{"id": "t1", "agent": "a"}]}


@dataclass(frozen=True)
class OpenLog:
    """Opens the test's durable log (again: the same storage, a new file handle or
    connection); keyword arguments go to its constructor."""

    kind: str
    make: Callable[..., SQLiteEventLog | JetStreamEventLog]

    def __call__(self, **options: Any) -> SQLiteEventLog | JetStreamEventLog:
        return self.make(**options)


@pytest.fixture(params=["sqlite", "jetstream"])
def open_log(request: pytest.FixtureRequest, tmp_path: Path) -> OpenLog:
    if request.param == "sqlite":
        return OpenLog("sqlite", lambda **options: SQLiteEventLog(tmp_path / "log.db", **options))
    transports: Callable[..., NatsTransport] = request.getfixturevalue("transports")
    return OpenLog("jetstream", lambda **options: JetStreamEventLog(transports(), **options))


def started(workflow_id: str, at: float) -> WorkflowStarted:
    return WorkflowStarted(workflow_id=workflow_id, plan=PLAN, time=datetime.fromtimestamp(at, UTC))


def test_events_come_back_per_workflow_and_task_in_publish_order(open_log: OpenLog) -> None:
    log = open_log()
    bus = EventBus(event_log=log, tracing=False)

    def publisher(workflow_id: str) -> None:
        for i in range(300):
            bus.publish(
                TaskCompleted(workflow_id=workflow_id, task_id=f"t{i % 3}", agent="a", result=i)
            )

    threads = [threading.Thread(target=publisher, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n in range(4):
        events = log.events(f"w{n}")
        assert [e.result for e in events if isinstance(e, TaskCompleted)] == list(range(300))
        only_t1 = log.events(f"w{n}", "t1")
        assert [e.result for e in only_t1 if isinstance(e, TaskCompleted)] == list(range(1, 300, 3))
    assert len(log) == 1200
    assert log.events("nobody") == []
    log.close()
    again = open_log()  # durable, readable again
    assert len(again) == 1200
    assert len(again.events("w3")) == 300
    again.close()


def test_a_stored_event_carries_the_w3c_trace_context_of_its_publish_span(
    open_log: OpenLog, tracer_provider: TracerProvider, spans: InMemorySpanExporter
) -> None:
    log = open_log()
    bus = EventBus(event_log=log, tracer_provider=tracer_provider)
    bus.publish(TaskStarted(workflow_id="w", task_id="t1", agent="nobody"))
    [stored, *_] = log.events("w")
    [publish] = [
        s
        for s in spans.get_finished_spans()
        if s.attributes and s.attributes.get("messaging.message.id") == stored.id
    ]
    assert publish.name.startswith("publish ")
    assert publish.context is not None
    version, trace_id, span_id, _flags = stored.traceparent.split("-")
    assert (version, trace_id, span_id) == (
        "00",
        f"{publish.context.trace_id:032x}",
        f"{publish.context.span_id:016x}",
    )
    log.close()


def test_workflows_are_listed_with_their_status(open_log: OpenLog) -> None:
    log = open_log()
    for wid, at in (("w1", 10.0), ("w2", 20.0)):
        log.append(Envelope(started(wid, at)))
    log.append(Envelope(WorkflowFinished(workflow_id="w1", status="failed", duration=1.0)))
    [w1, w2] = log.workflows()
    assert (w1.id, w1.status, w1.started_at) == ("w1", "failed", 10.0)
    assert w1.finished_at is not None
    assert (w2.id, w2.status, w2.finished_at) == ("w2", "running", None)
    log.close()


def test_a_closed_log_refuses_appends_and_the_bus_passes_that_on(open_log: OpenLog) -> None:
    log = open_log()
    bus = EventBus(event_log=log, tracing=False)
    log.close()
    log.close()  # twice is fine
    with pytest.raises(MemoryStoreError, match=r"^Event log .* is closed; close it after"):
        bus.publish(TaskCompleted(workflow_id="w", task_id="t", agent="a"))
    with pytest.raises(MemoryStoreError, match="is closed"):
        log.flush()


def test_a_version_1_file_is_migrated_and_keeps_its_facts(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE records (namespace TEXT NOT NULL, key TEXT NOT NULL,
                value TEXT NOT NULL, scope TEXT NOT NULL, updated_at REAL NOT NULL,
                seq INTEGER NOT NULL, PRIMARY KEY (namespace, key));
            CREATE INDEX records_by_seq ON records (seq);
            CREATE VIRTUAL TABLE records_fts USING fts5(namespace UNINDEXED, key UNINDEXED, text);
            INSERT INTO records VALUES ('risk', 'acme', '"high"', 'long_term', 1.0, 1);
            INSERT INTO records_fts VALUES ('risk', 'acme', 'acme high');
            PRAGMA user_version = 1;
            """
        )
    db.close()
    store = SQLiteStore(path)
    [found] = store.search("risk", "acme")
    assert found.value == "high"
    log = SQLiteEventLog(path)
    log.append(Envelope(started("w", 1.0)))
    assert [e.type for e in log.events("w")] == ["workflow.started"]
    log.close()
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    db.close()


def test_a_negative_retention_bound_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"has a negative bound"):
        Retention(max_workflows=-1)


def test_automatic_retention_bounds_the_file(tmp_path: Path) -> None:
    log = SQLiteEventLog(tmp_path / "log.db", retention=Retention(max_workflows=2), retain_every=0)
    for n in range(20):
        wid = f"w{n}"
        log.append(Envelope(started(wid, float(n))))
        for i in range(50):
            log.append(Envelope(TaskCompleted(workflow_id=wid, task_id="t1", agent="a", result=i)))
        log.append(Envelope(WorkflowFinished(workflow_id=wid, status="completed", duration=0.1)))
        log.flush()
    log.flush()
    assert [w.id for w in log.workflows()] == ["w18", "w19"]
    assert len(log) == 2 * 52
    log.close()


def test_retention_gives_the_space_back_to_the_file_system(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    log = SQLiteEventLog(path)
    padding = "x" * 2000
    for n in range(200):
        wid = f"w{n}"
        log.append(Envelope(started(wid, float(n))))
        for _ in range(10):
            event = TaskCompleted(workflow_id=wid, task_id="t1", agent="a", result=padding)
            log.append(Envelope(event))
        log.append(Envelope(WorkflowFinished(workflow_id=wid, status="completed", duration=0)))
    log.flush()
    full = path.stat().st_size + Path(f"{path}-wal").stat().st_size
    assert log.retain(Retention(max_workflows=1)) == 199 * 12
    compacted = path.stat().st_size + Path(f"{path}-wal").stat().st_size
    assert full > 4_000_000
    assert compacted < full / 20
    log.close()


def test_a_publisher_faster_than_the_writer_waits_and_loses_nothing(open_log: OpenLog) -> None:
    fast = {"commit_interval": 0.0005} if open_log.kind == "sqlite" else {}
    log = open_log(max_pending=3, **fast)
    bus = EventBus(event_log=log, tracing=False)
    for i in range(2000):
        bus.publish(TaskCompleted(workflow_id="w", task_id="t", agent="a", result=i))
    results = [e.result for e in log.events("w") if isinstance(e, TaskCompleted)]
    assert results == list(range(2000))
    log.close()


class LogMachine(RuleBasedStateMachine):
    """The SQLite log must answer every query as the in-memory log does, through retention."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000_000.0
        self.tmp = tempfile.TemporaryDirectory()
        self.logs: list[EventLog] = [
            InMemoryEventLog(clock=lambda: self.now),
            SQLiteEventLog(Path(self.tmp.name) / "log.db", clock=lambda: self.now),
        ]
        self.workflows: list[str] = []
        self.finished: set[str] = set()

    def _append(self, event: Event) -> None:
        for log in self.logs:
            log.append(Envelope(event))

    def _at(self) -> datetime:
        self.now += 1.0
        return datetime.fromtimestamp(self.now, UTC)

    @rule()
    def start(self) -> None:
        wid = f"w{len(self.workflows)}"
        self.workflows.append(wid)
        self._append(started(wid, self._at().timestamp()))

    @precondition(lambda self: self.workflows)
    @rule(data=st.data(), n=st.integers(1, 3))
    def event(self, data: st.DataObject, n: int) -> None:
        wid = data.draw(st.sampled_from(self.workflows))
        for i in range(n):
            self._append(
                TaskCompleted(workflow_id=wid, task_id=f"t{i}", agent="a", time=self._at())
            )

    @precondition(lambda self: self.workflows)
    @rule(data=st.data())
    def finish(self, data: st.DataObject) -> None:
        wid = data.draw(st.sampled_from(self.workflows))
        if wid not in self.finished:
            self.finished.add(wid)
            self._append(
                WorkflowFinished(workflow_id=wid, status="completed", duration=0, time=self._at())
            )

    @rule()
    def loose_event(self) -> None:
        self._append(ChildStarted(supervisor="s", child="c", time=self._at()))

    @rule(n=st.integers(0, 1))
    def event_of_a_workflow_never_started_here(self, n: int) -> None:
        self._append(
            TaskCompleted(workflow_id=f"stray{n}", task_id="t", agent="a", time=self._at())
        )

    @rule(
        max_workflows=st.none() | st.integers(0, 3),
        max_age=st.none() | st.floats(0, 20),
        max_loose=st.integers(0, 3),
    )
    def retain(self, max_workflows: int | None, max_age: float | None, max_loose: int) -> None:
        policy = Retention(max_workflows, max_age, max_loose)
        removed = [log.retain(policy) for log in self.logs]
        assert removed[0] == removed[1]

    @invariant()
    def same_answers(self) -> None:
        reference, sqlite = self.logs
        assert sqlite.workflows() == reference.workflows()
        for wid in [*self.workflows, "", "stray0", "stray1"]:
            assert [e.id for e in sqlite.events(wid)] == [e.id for e in reference.events(wid)]

    def teardown(self) -> None:
        for log in self.logs:
            log.close()
        self.tmp.cleanup()


LogMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_sqlite_log_behaves_as_the_in_memory_log = LogMachine.TestCase


def test_the_jetstream_log_behaves_as_the_in_memory_log(nats_server: NatsServer) -> None:
    class JetStreamLogMachine(LogMachine):
        def __init__(self) -> None:
            super().__init__()
            self.logs[1].close()
            self.transport = NatsTransport(nats_server.url, namespace=f"m{uuid.uuid4().hex[:16]}")
            self.logs[1] = JetStreamEventLog(self.transport, clock=lambda: self.now)

        def teardown(self) -> None:
            super().teardown()
            self.transport.close(drain_timeout=0)

    run: Callable[..., None] = run_state_machine_as_test  # typed in newer Hypothesis only
    run(
        JetStreamLogMachine,
        settings=settings(
            max_examples=15,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_a_batch_that_cannot_be_written_is_counted_and_the_writer_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = SQLiteEventLog(tmp_path / "log.db")
    log.append(Envelope(object()))  # type: ignore[arg-type]  # not an event: cannot be stored
    log.flush()
    log.append(Envelope(TaskCompleted(workflow_id="w", task_id="t", agent="a")))
    assert [e.type for e in log.events("w")] == ["task.completed"]
    assert log.lost == 1
    assert "lost 1 events" in caplog.text
    log.close()


# -- versions: logs outlive the code that wrote them ------------------------------------


def test_every_stored_event_carries_the_schema_version(tmp_path: Path) -> None:
    log = SQLiteEventLog(tmp_path / "log.db")
    bus = EventBus(tracing=False, event_log=log)
    bus.publish(TaskCompleted(workflow_id="w", task_id="t", agent="a"))
    log.close()
    db = sqlite3.connect(tmp_path / "log.db")
    [(data,)] = db.execute("SELECT data FROM events WHERE workflow_id = 'w'").fetchall()
    db.close()
    [entry] = json.loads(data)
    assert entry[3] == EVENT_SCHEMA_VERSION == 1


def test_a_log_written_by_the_previous_schema_reads_back(tmp_path: Path) -> None:
    seed_event_log(tmp_path / "log.db")
    log = SQLiteEventLog(tmp_path / "log.db")
    try:
        events = log.events("wf-v0")
        assert [(e.type, e.task_id) for e in events] == [
            ("workflow.started", ""),
            ("task.started", "t1"),
            ("task.completed", "t1"),
            ("task.finished", "t1"),
            ("task.started", "t2"),
        ]
        finished = events[3]
        assert isinstance(finished, TaskFinished)
        assert finished.result == {"task": "t1", "inputs": {}, "ratio": 0.25}
        assert log.skipped == 0
    finally:
        log.close()


def test_records_of_a_newer_schema_read_as_far_as_this_release_knows_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    newer = TaskCompleted(workflow_id="w", task_id="t", agent="a", result=1).model_dump(mode="json")
    newer["confidence"] = 0.9  # a field added by a later release
    newer["usage"]["cached_input_tokens"] = 5  # in a nested model too
    unknown = {"type": "acme.price_changed", "workflow_id": "w", "price": 3}
    seed_event_log(
        tmp_path / "log.db",
        [("w", [[newer, "", "", 2], [unknown, "", "", 2], [unknown, "", "", 1]])],
    )
    log = SQLiteEventLog(tmp_path / "log.db")
    try:
        with caplog.at_level(logging.WARNING, logger="memory"):
            [completed] = log.events("w")
            log.events("w")
        assert isinstance(completed, TaskCompleted)
        assert (completed.result, completed.usage.input_tokens) == (1, 0)
        assert log.skipped == 4  # two unknown records, read twice
        [warning] = [r for r in caplog.records if "acme.price_changed" in r.getMessage()]
        assert "cannot read" in warning.getMessage()
    finally:
        log.close()


def test_a_log_left_open_is_flushed_when_the_interpreter_exits(tmp_path: Path) -> None:
    # A long commit interval: without the flush at exit nothing would be written.
    code = (
        "import sys\n"
        "from bus import EventBus, TaskCompleted\n"
        "from memory import SQLiteEventLog\n"
        "log = SQLiteEventLog(sys.argv[1], commit_interval=5.0)\n"
        "bus = EventBus(tracing=False, event_log=log)\n"
        "for i in range(100):\n"
        "    bus.publish(TaskCompleted(workflow_id='w', task_id=str(i), agent='a'))\n"
    )
    path = tmp_path / "log.db"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=60, cwd=ROOT)
    log = SQLiteEventLog(path)
    try:
        assert [e.task_id for e in log.events("w")] == [str(i) for i in range(100)]
    finally:
        log.close()


def test_a_field_added_without_a_new_version_is_dropped_and_damage_is_skipped(
    tmp_path: Path,
) -> None:
    added = TaskCompleted(workflow_id="w", task_id="t", agent="a").model_dump(mode="json")
    added["confidence"] = 0.9  # a later release's field, same schema version
    seed_event_log(tmp_path / "log.db", [("w", [[added, "", "", 1], "not an entry", [{}]])])
    log = SQLiteEventLog(tmp_path / "log.db")
    try:
        [completed] = log.events("w")
        assert isinstance(completed, TaskCompleted)
        assert log.skipped == 2
    finally:
        log.close()


def test_a_known_event_that_cannot_be_read_is_an_error_not_a_skip(tmp_path: Path) -> None:
    finished = {"type": "task.finished", "workflow_id": "w", "status": "paused", "attempts": 1}
    seed_event_log(tmp_path / "log.db", [("w", [[finished, "", "", 2]])])
    log = SQLiteEventLog(tmp_path / "log.db")
    try:
        with pytest.raises(
            MemoryStoreError,
            match=r"holds a task\.finished event \(schema version 2\) that this release "
            r"cannot read: TaskFinished field 'status' is invalid",
        ):
            log.events("w")
    finally:
        log.close()


def test_a_users_event_type_cannot_take_a_built_in_ones_name() -> None:
    with pytest.raises(
        BusConfigurationError,
        match=r"^Event type 'task\.started' is TaskStarted's; give Mine a type of its own",
    ):

        class Mine(Event):
            type: Literal["task.started"] = "task.started"
