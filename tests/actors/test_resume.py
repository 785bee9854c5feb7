"""Workflow memory: resuming from the event log in one process (the SIGKILL test is in
integration), and short-term notes that end with their workflow."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pykka
import pytest

from actors import (
    Agent,
    Limits,
    Plan,
    Supervisor,
    Task,
    TaskContext,
    TaskStatus,
    Team,
    WorkflowError,
    WorkflowResult,
)
from actors.testing import EventRecorder, check_protocol
from bus import (
    ChildCrashed,
    EventBus,
    NatsTransport,
    TaskFinished,
    WorkflowResumed,
    WorkflowStarted,
)
from memory import (
    EventLog,
    InMemoryEventLog,
    InMemoryStore,
    JetStreamEventLog,
    Scope,
    SQLiteEventLog,
    workflow_namespace,
)
from tests.helpers import seed_event_log, wait_until

CHAIN = Plan(
    tasks=(
        Task(id="a", agent="w"),
        Task(id="b", agent="w", depends_on=("a",)),
        Task(id="c", agent="w", depends_on=("b",)),
    )
)


class Counting(Agent):
    """Runs tasks, recording each run; holds task ``b`` until ``release`` is set."""

    runs: ClassVar[list[tuple[str, int]]] = []
    release: ClassVar[threading.Event] = threading.Event()

    def handle(self, task: TaskContext) -> str:
        self.runs.append((task.task_id, task.attempt))
        if task.task_id == "b" and not self.release.wait(10):
            raise RuntimeError("never released")
        return task.task_id + "".join(str(v) for v in task.inputs.values())


@pytest.fixture(params=["in_memory", "jetstream"])
def open_log(request: pytest.FixtureRequest) -> Iterator[Callable[[], EventLog]]:
    """Opens the test's event log: the same one again (in memory), or the same stream
    from a new connection, as a new process would (on a real ``nats-server``)."""
    if request.param == "in_memory":
        log = InMemoryEventLog()
        yield lambda: log
        return
    transports: Callable[..., NatsTransport] = request.getfixturevalue("transports")
    opened: list[JetStreamEventLog] = []

    def open_jetstream() -> EventLog:
        opened.append(JetStreamEventLog(transports()))
        return opened[-1]

    yield open_jetstream
    for each in opened:
        each.close()


@pytest.fixture
def counting() -> type[Counting]:
    Counting.runs = []
    Counting.release = threading.Event()
    return Counting


def test_resume_keeps_finished_tasks_and_restarts_the_one_in_flight(
    counting: type[Counting], open_log: Callable[[], EventLog]
) -> None:
    first = open_log()
    bus = EventBus(event_log=first, tracing=False)
    team = Team([counting.child_spec("w", bus)], bus=bus, name="first")
    future = team.submit(CHAIN, workflow_id="wf")
    assert wait_until(lambda: ("b", 1) in counting.runs)
    # The first orchestrator goes away with "b" in flight, as if its process died.
    Supervisor.terminate_child(team.supervisor, "orchestrator")
    with pytest.raises(WorkflowError, match="stopped before workflow 'wf' finished"):
        future.get(timeout=5)
    counting.release.set()
    team.stop()
    first.flush()  # what the first process stored (all of it here) is what resumes

    counting.runs.clear()
    log = open_log()
    bus2 = EventBus(event_log=log, tracing=False)
    with Team([counting.child_spec("w", bus2)], bus=bus2, name="second") as team2:
        result = team2.resume("wf").get(timeout=10)
    assert result.ok
    assert result.answer == "cba"
    assert counting.runs == [("b", 1), ("c", 1)]  # "a" kept, "b" again as attempt 1
    events = log.events("wf")
    check_protocol(events)
    [resumed] = [e for e in events if isinstance(e, WorkflowResumed)]
    assert (resumed.reused, resumed.restarted) == (["a"], ["b"])


def test_a_finished_workflow_resumes_to_its_recorded_result_without_running(
    counting: type[Counting], open_log: Callable[[], EventLog]
) -> None:
    counting.release.set()
    bus = EventBus(event_log=open_log(), tracing=False)
    with Team([counting.child_spec("w", bus)], bus=bus) as team:
        first = team.submit(CHAIN, workflow_id="wf").get(timeout=10)
        counting.runs.clear()
        again = team.resume("wf").get(timeout=10)
    assert counting.runs == []
    assert (again.status, again.answer) == (first.status, first.answer)
    assert [(t.task_id, t.result, t.attempts) for t in again.tasks] == [
        (t.task_id, t.result, t.attempts) for t in first.tasks
    ]


def test_resume_errors_name_the_cause(counting: type[Counting]) -> None:
    bus = EventBus(tracing=False)
    with (
        Team([counting.child_spec("w", bus)], bus=bus) as team,
        pytest.raises(WorkflowError, match=r"has no event log to resume from; give the bus"),
    ):
        team.resume("wf").get(timeout=5)
    log = InMemoryEventLog()
    bus = EventBus(event_log=log, tracing=False)
    with Team([counting.child_spec("w", bus)], bus=bus) as team:
        with pytest.raises(WorkflowError, match=r"^Workflow 'nope' is not in the event log"):
            team.resume("nope").get(timeout=5)
        running = team.submit(CHAIN, workflow_id="wf")
        with pytest.raises(WorkflowError, match=r"is running in this orchestrator"):
            team.resume("wf").get(timeout=5)
        counting.release.set()
        assert running.get(timeout=10).ok


class NoteTaker(Agent):
    """Notes a short-term fact per task; promotes the one of task ``keep``."""

    seen: ClassVar[list[list[str]]] = []

    def handle(self, task: TaskContext) -> str:
        NoteTaker.seen.append([r.key for r in self.notes(task)])
        self.note(task, task.task_id, f"found in {task.task_id}")
        if task.task_id == "keep":
            assert self.memory is not None
            self.memory.put(workflow_namespace(task.workflow_id), "kept", 1, scope=Scope.LONG_TERM)
        return task.task_id


def test_short_term_notes_are_shared_in_a_workflow_and_discarded_at_its_end() -> None:
    store = InMemoryStore()
    bus = EventBus(tracing=False)
    plan = Plan(tasks=(Task(id="a", agent="n"), Task(id="keep", agent="n", depends_on=("a",))))
    NoteTaker.seen = []
    with Team([NoteTaker.child_spec("n", bus, memory=store)], bus=bus, memory=store) as team:
        assert team.submit(plan, workflow_id="wf").get(timeout=10).ok
    assert NoteTaker.seen == [[], ["a"]]  # the second task read the first one's note
    assert [(r.key, r.scope) for r in store.records("workflow:wf")] == [("kept", Scope.LONG_TERM)]


# -- one workflow's bad records never reach the others ----------------------------------


class Step(Agent):
    """Runs v0's tasks; a task named ``hold`` waits for ``release`` first."""

    runs: ClassVar[list[str]] = []
    release: ClassVar[threading.Event] = threading.Event()

    def handle(self, task: TaskContext) -> object:
        self.runs.append(task.task_id)
        if task.task_id == "hold" and not self.release.wait(10):
            raise RuntimeError("never released")
        return {"task": task.task_id, "inputs": task.inputs, "ratio": 0.25}


def _resume_beside_a_running_workflow(
    path: Path,
) -> tuple[pykka.Future[WorkflowResult], WorkflowResult, SQLiteEventLog]:
    """Resume ``wf-v0`` from ``path`` while workflow ``other`` runs; both futures' outcomes."""
    Step.runs, Step.release = [], threading.Event()
    log = SQLiteEventLog(path)
    bus = EventBus(tracing=False, event_log=log)
    resumes, crashes = EventRecorder(bus, WorkflowResumed), EventRecorder(bus, ChildCrashed)
    try:
        with Team([Step.child_spec("a", bus)], bus=bus, limits=Limits(max_in_flight=None)) as team:
            other = team.submit(Plan(tasks=(Task(id="hold", agent="a"),)), workflow_id="other")
            assert wait_until(lambda: "hold" in Step.runs)
            resumed = team.resume("wf-v0")
            # The orchestrator took the resume (rebuilt it, failed it, or crashed on it)
            # while "other" was still running.
            assert wait_until(lambda: bool(resumes.events or crashes.events) or _done(resumed))
            Step.release.set()
            with contextlib.suppress(Exception):
                resumed.get(timeout=10)
            return resumed, other.get(timeout=10), log
    finally:
        bus.stop()
        log.close()


def _done(future: pykka.Future[WorkflowResult]) -> bool:
    try:
        future.get(timeout=0)
    except pykka.Timeout:
        return False
    except Exception:
        return True
    return True


def test_a_record_this_release_cannot_read_is_skipped_and_the_resume_goes_on(
    tmp_path: Path,
) -> None:
    unknown = {"type": "acme.price_changed", "workflow_id": "wf-v0", "price": 3}
    seed_event_log(tmp_path / "log.db", [("wf-v0", [[unknown, "", "", 1]])])
    resumed, other, log = _resume_beside_a_running_workflow(tmp_path / "log.db")
    result = resumed.get(timeout=0)
    assert result.ok
    assert [t.result for t in result.tasks] == [
        {"task": "t1", "inputs": {}, "ratio": 0.25},
        {
            "task": "t2",
            "inputs": {"t1": {"task": "t1", "inputs": {}, "ratio": 0.25}},
            "ratio": 0.25,
        },
    ]
    assert "t1" not in Step.runs  # recorded by 0.1.0, not run again
    assert log.skipped >= 1
    assert other.ok


def test_a_workflow_whose_records_cannot_be_rebuilt_fails_its_resume_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Jane Roe's medical records"  # task text a model wrote: never logged
    task = {"id": "t1", "agent": "a", "description": secret, "priority": "urgent"}
    broken = WorkflowStarted(workflow_id="wf-v0", plan={"tasks": [task]})
    seed_event_log(tmp_path / "log.db", [])
    db = sqlite3.connect(tmp_path / "log.db")
    with db:  # the only WorkflowStarted of wf-v0: a plan no release can read
        db.execute("DELETE FROM events WHERE workflow_id = 'wf-v0'")
        db.execute(
            "INSERT INTO events (workflow_id, time, count, data) VALUES ('wf-v0', 0, 1, ?)",
            (json.dumps([[broken.model_dump(mode="json"), "", "", 1]]),),
        )
    db.close()
    resumed, other, _ = _resume_beside_a_running_workflow(tmp_path / "log.db")
    with pytest.raises(
        WorkflowError,
        match=r"^Workflow 'wf-v0' failed: the orchestrator could not handle its data "
        r"\(ValidationError\); other workflows go on\.$",
    ):
        resumed.get(timeout=0)
    assert other.ok
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "tasks.0.priority: Input should be a valid integer" in error.getMessage()
    assert not [r for r in caplog.records if secret in r.getMessage() + str(r.exc_info)]


def test_a_workflow_id_already_running_is_refused(counting: type[Counting]) -> None:
    bus = EventBus(tracing=False)
    with Team([counting.child_spec("w", bus)], bus=bus) as team:
        first = team.submit(CHAIN, workflow_id="same")
        assert wait_until(lambda: ("b", 1) in counting.runs)
        with pytest.raises(
            WorkflowError,
            match=r"^Workflow 'same' is already running in orchestrator 'orchestrator'; "
            r"give the new one another workflow_id\.$",
        ):
            team.submit(CHAIN, workflow_id="same").get(timeout=5)
        counting.release.set()
        assert first.get(timeout=10).ok
    bus.stop()


class Gate(Agent):
    """Holds the task named ``hold`` until ``release``; records every run."""

    release: ClassVar[threading.Event] = threading.Event()
    runs: ClassVar[list[str]] = []

    def handle(self, task: TaskContext) -> object:
        self.runs.append(f"{task.workflow_id}/{task.task_id}")
        if task.task_id == "hold":
            self.release.wait(10)
        return 1


def test_a_reused_workflow_id_never_inherits_the_waiting_work_of_the_old_one() -> None:
    Gate.release, Gate.runs = threading.Event(), []
    bus = EventBus(tracing=False)
    recorder = EventRecorder(bus, TaskFinished)
    with Team([Gate.child_spec("a", bus)], bus=bus, limits=Limits(max_in_flight=1)) as team:
        w0 = team.submit(Plan(tasks=(Task(id="hold", agent="a"),)), workflow_id="w0")
        assert wait_until(lambda: Gate.runs == ["w0/hold"])
        old = team.submit(Plan(tasks=(Task(id="t1", agent="a"),)), workflow_id="w1")
        # t1 waits for the busy agent; cancelling ends it there, and the id is free again.
        team.cancel("w1")
        assert old.get(timeout=5).status is TaskStatus.CANCELLED
        new = team.submit(Plan(tasks=(Task(id="x", agent="a"),)), workflow_id="w1")
        assert recorder.wait_for(lambda ev: any(e.workflow_id == "w1" for e in ev))
        Gate.release.set()
        assert w0.get(timeout=5).ok
        assert new.get(timeout=5).ok
    bus.stop()
    assert Gate.runs == ["w0/hold", "w1/x"]
