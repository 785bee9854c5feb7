"""A team and its workers on separate transports to a real nats-server: what crosses, and how."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

import nats
import pytest

from actors import Agent, Delegate, Limits, Plan, Task, TaskContext, Team
from actors._orchestration.remote import RemoteAgent
from actors.testing import EventRecorder, check_protocol
from actors.testing.nats_server import NatsServer
from actors.worker import Worker
from bus import (
    DeadLetter,
    Event,
    EventBus,
    ExternalEvent,
    NatsTransport,
    TaskCompleted,
    TaskStarted,
    TransportError,
)
from bus.lowlevel import Envelope
from tests.bus.test_cloudevents import SPEC_EXAMPLE
from tests.helpers import Collector, wait_until

Transports = Callable[..., NatsTransport]
ANALYSTS = ("financial", "legal", "hr", "market")


class Echo(Agent):
    """Answers with its name, the task's description and the inputs it was given."""

    def handle(self, task: TaskContext) -> object:
        return {"by": self.name, "did": task.description, "from": sorted(task.inputs)}


class Slow(Agent):
    """Sleeps ``delay`` seconds, then says which worker it is (and notes each run)."""

    runs: ClassVar[list[tuple[str, str]]] = []  # (worker, task) of every attempt started

    def __init__(self, *, worker: str, delay: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.worker, self.delay = worker, delay

    def handle(self, task: TaskContext) -> object:
        Slow.runs.append((self.worker, task.task_id))
        time.sleep(self.delay)
        return self.worker


def diligence() -> Plan:
    """Four analyses in parallel, then a risk task that needs all four."""
    analyses = [Task(id=n, agent=n, description=f"{n} analysis") for n in ANALYSTS]
    risk = Task(id="risk", agent="risk", description="assess", depends_on=list(ANALYSTS))
    return Plan(tasks=[*analyses, risk])


def echoes(*names: str) -> Callable[[EventBus], list[Any]]:
    return lambda bus: [Echo.child_spec(name, bus) for name in names]


def slow(worker: str, delay: float) -> Callable[[EventBus], list[Any]]:
    return lambda bus: [Slow.child_spec("slow", bus, worker=worker, delay=delay)]


def test_a_plan_gives_the_same_result_with_its_agents_behind_nats(transports: Transports) -> None:
    bus = EventBus(tracing=False)
    with Team(echoes(*ANALYSTS, "risk")(bus), bus=bus) as local:
        expected = local.run(diligence(), timeout=10)
    Worker(echoes(*ANALYSTS[:2]), transport=transports())
    Worker(echoes(*ANALYSTS[2:], "risk"), transport=transports())
    team = Team([RemoteAgent(n) for n in (*ANALYSTS, "risk")], transport=transports())
    result = team.run(diligence(), timeout=20)
    team.stop()
    assert result.ok
    assert result.answer == {"by": "risk", "did": "assess", "from": sorted(ANALYSTS)}
    assert [(t.task_id, t.result) for t in result.tasks] == [
        (t.task_id, t.result) for t in expected.tasks
    ]


def test_workers_serving_one_name_share_its_work(transports: Transports) -> None:
    Worker(slow("w1", 0.05), transport=transports())
    Worker(slow("w2", 0.05), transport=transports())
    transport = transports()
    team = Team([RemoteAgent("slow")], transport=transport)
    plan = Plan(tasks=[Task(id=f"t{i}", agent="slow", description="") for i in range(16)])
    result = team.run(plan, timeout=30)
    team.stop()
    pool = transport.pool("slow")
    assert (pool.waiting, pool.in_progress, pool.redelivered) == (0, 0, 0)
    assert result.ok
    took = [t.result for t in result.tasks]
    assert len(took) == 16
    assert {"w1", "w2"} == set(took)  # both members of the pool took work
    assert all(t.attempts == 1 for t in result.tasks)  # and none was run twice


def test_a_busy_worker_leaves_waiting_tasks_to_the_idle_members_of_its_pool(
    transports: Transports,
) -> None:
    transport = transports()
    team = Team(  # all eight dispatched at once, before any worker runs: they wait
        [RemoteAgent("slow")], transport=transport, limits=Limits(max_in_flight=None)
    )
    future = team.submit(Plan(tasks=[Task(id=f"t{i}", agent="slow") for i in range(8)]))
    assert wait_until(lambda: transport.pool("slow").waiting == 8, timeout=10)
    Worker(slow("w1", 0.2), transport=transports())  # the first to fetch...
    Worker(slow("w2", 0.2), transport=transports())
    result = future.get(timeout=30)
    team.stop()
    took = [t.result for t in result.tasks]
    assert min(took.count("w1"), took.count("w2")) >= 3  # ...does not hoard the queue


def test_unreachable_nats_is_a_clear_error_naming_the_url() -> None:
    server = NatsServer()  # a free port, never started
    with pytest.raises(TransportError, match=rf"Cannot connect to NATS at {server.url}"):
        NatsTransport(server.url, connect_timeout=0.5)
    server.stop()


def test_work_no_process_can_take_becomes_a_dead_letter_and_fails_its_task(
    transports: Transports,
) -> None:
    team_transport = transports(max_deliver=2)
    nowhere = transports(max_deliver=2)  # serves "ghost" with no actor of that name
    nowhere.bus(tracing=False)
    team = Team([RemoteAgent("ghost")], transport=team_transport)
    nowhere.serve(["ghost"])
    result = team.run(Plan(tasks=[Task(id="t1", agent="ghost", max_attempts=1)]), timeout=30)
    team.stop()
    [task] = result.tasks
    assert not result.ok
    assert "max_deliver" in (task.error or "")
    assert nowhere.statistics().handed_back == 2
    assert team_transport.statistics().dead_letters == 1


def test_an_unreadable_message_goes_to_the_dead_letter_subject(
    nats_server: NatsServer, transports: Transports
) -> None:
    Worker(echoes("echo"), transport=transports())
    team = Team([RemoteAgent("echo")], transport=transports())

    async def publish_garbage() -> bytes:
        client = await nats.connect(nats_server.url)
        letters = await client.subscribe("t.deadletter")
        await client.jetstream().publish("t.to.echo.mallory", b"{not a cloudevent")
        letter = await letters.next_msg(timeout=10)
        await client.close()
        return letter.data

    assert asyncio.run(publish_garbage()) == b"{not a cloudevent"
    result = team.run(Plan(tasks=[Task(id="t1", agent="echo", description="x")]), timeout=20)
    team.stop()
    assert result.ok  # the worker goes on


def test_a_cloudevent_from_another_producer_reaches_a_subscriber(
    nats_server: NatsServer, transports: Transports
) -> None:
    transport = transports()
    bus = transport.bus(tracing=False)
    seen: list[Event] = []
    done = threading.Event()
    Collector.start(name="observer", bus=bus, sink=seen, done=done, until=1)
    bus.subscribe(ExternalEvent, "observer")
    transport.serve(["observer"])

    async def produce() -> None:
        client = await nats.connect(nats_server.url)
        await client.jetstream().publish("t.to.observer.shop", json.dumps(SPEC_EXAMPLE).encode())
        await client.close()

    asyncio.run(produce())
    assert done.wait(10)
    [event] = seen
    assert isinstance(event, ExternalEvent)
    assert (event.ce_type, event.id) == ("com.example.someevent", "A234-1234-1234")


def test_the_server_restarting_mid_workflow_loses_nothing(
    nats_server: NatsServer, transports: Transports
) -> None:
    Worker(slow("w1", 0.2), transport=transports(reconnect_wait=0.1))
    team = Team([RemoteAgent("slow")], transport=transports(reconnect_wait=0.1))
    chain = [
        Task(id=f"t{i}", agent="slow", depends_on=[f"t{i - 1}"] if i else []) for i in range(6)
    ]
    recorder = EventRecorder(team.bus)
    future = team.submit(Plan(tasks=chain))
    time.sleep(0.5)
    nats_server.restart()  # SIGKILL, then a new server on the same port and store
    result = future.get(timeout=60)
    team.stop()
    assert result.ok
    assert [t.status.value for t in result.tasks] == ["completed"] * 6
    check_protocol(recorder.events)
    outcomes = [e for e in recorder.events if isinstance(e, TaskCompleted)]
    assert sorted({e.task_id for e in outcomes}) == [f"t{i}" for i in range(6)]


def test_a_stopping_worker_finishes_the_attempt_it_runs(transports: Transports) -> None:
    worker = Worker(slow("w1", 1.0), transport=transports())
    team = Team([RemoteAgent("slow")], transport=transports())
    future = team.submit(Plan(tasks=[Task(id="t1", agent="slow")]))
    wait_until(lambda: worker.transport.statistics().in_progress == 1, timeout=10)  # type: ignore[attr-defined]
    worker.stop(drain_timeout=10)  # waits for the attempt, whose outcome is published
    result = future.get(timeout=20)
    team.stop()
    assert result.ok
    assert result.tasks[0].attempts == 1


class FailingOnce:
    """An event log whose first append of a ``TaskStarted`` raises (a full disk), then works."""

    def __init__(self) -> None:
        self.failed = False

    def append(self, envelope: Envelope[Event]) -> None:
        if isinstance(envelope.event, TaskStarted) and not self.failed:
            self.failed = True
            raise OSError("disk full")


def test_a_message_the_bus_fails_to_take_is_handed_back_and_taken_again(
    transports: Transports,
) -> None:
    transport = transports()
    bus = transport.bus(event_log=FailingOnce())
    Worker(echoes("echo"), transport=transport, bus=bus)
    team = Team([RemoteAgent("echo")], transport=transports())
    result = team.run(Plan(tasks=[Task(id="t1", agent="echo", description="x")]), timeout=20)
    team.stop()
    assert result.ok
    assert result.tasks[0].attempts == 1  # the same attempt, redelivered
    assert transport.statistics().handed_back == 1


class Patient(Agent):
    """Waits up to 10 s for its attempt to be cancelled; records how long that took."""

    waited: ClassVar[list[float]] = []

    def handle(self, task: TaskContext) -> object:
        started = time.monotonic()
        task.cancellation.wait(10)
        Patient.waited.append(time.monotonic() - started)
        task.cancellation.raise_if_cancelled()
        return "never cancelled"


def test_a_cancellation_reaches_the_pool_member_running_the_attempt(
    transports: Transports,
) -> None:
    Patient.waited.clear()
    for _ in range(2):  # whichever member runs it, the cancel must reach that one
        Worker(lambda bus: [Patient.child_spec("patient", bus)], transport=transports())
    team = Team([RemoteAgent("patient")], transport=transports(), limits=Limits(task_timeout=0.5))
    result = team.run(Plan(tasks=[Task(id="t1", agent="patient", max_attempts=1)]), timeout=20)
    team.stop()
    assert not result.ok  # timed out...
    assert wait_until(lambda: len(Patient.waited) == 1, timeout=10)
    assert Patient.waited[0] < 3  # ...and the running attempt was asked to stop


def test_what_only_a_local_observer_missed_is_not_handed_back(transports: Transports) -> None:
    Worker(echoes("echo"), transport=transports())
    transport = transports()
    team = Team([RemoteAgent("echo")], transport=transport)
    team.bus.subscribe(TaskCompleted, "absent-observer")  # an actor name bound nowhere
    letters: list[DeadLetter] = []
    team.bus.subscribe(DeadLetter, letters.append)
    result = team.run(Plan(tasks=[Task(id="t1", agent="echo", description="x")]), timeout=20)
    team.stop()
    assert result.ok
    assert transport.statistics().handed_back == 0  # the orchestrator took it: done
    assert [letter.subscriber for letter in letters] == ["absent-observer"]


def test_an_event_for_a_name_no_process_serves_is_a_dead_letter_not_a_message(
    transports: Transports,
) -> None:
    transport = transports()
    bus = transport.bus(tracing=False)
    letters: list[DeadLetter] = []
    bus.subscribe(DeadLetter, letters.append)
    bus.subscribe(TaskStarted, "stopped-agent", recipient="stopped-agent")  # never reached
    bus.publish(TaskStarted(agent="stopped-agent", task_id="t1"))
    assert [(x.subscriber, x.reason) for x in letters] == [
        ("stopped-agent", "subscriber not bound")
    ]
    assert transport.statistics().sent == 0


def test_a_draining_worker_keeps_its_attempt_from_being_redelivered(
    transports: Transports,
) -> None:
    Slow.runs.clear()
    first = Worker(slow("w1", 2.5), transport=transports(ack_wait=1.0))
    team = Team([RemoteAgent("slow")], transport=transports(ack_wait=1.0))
    future = team.submit(Plan(tasks=[Task(id="t1", agent="slow")]))
    assert wait_until(lambda: first.transport.statistics().in_progress == 1, timeout=10)  # type: ignore[attr-defined]
    Worker(slow("w2", 2.5), transport=transports(ack_wait=1.0))  # idle, ready to take it
    first.stop(drain_timeout=10)  # longer than ack_wait: the attempt must stay alive
    result = future.get(timeout=20)
    time.sleep(1.5)  # a redelivery would have reached w2 by now
    team.stop()
    assert result.ok
    assert result.tasks[0].result == "w1"
    assert Slow.runs == [("w1", "t1")]  # w2 never ran it


class Splitter(Agent):
    """Delegates its task: the four analyses, then the risk task that needs them."""

    def handle(self, task: TaskContext) -> object:
        return Delegate(diligence(), reason="one analysis each")


def test_a_remote_agent_delegates_a_sub_plan_across_processes(transports: Transports) -> None:
    Worker(lambda bus: [Splitter.child_spec("lead", bus)], transport=transports())
    Worker(echoes(*ANALYSTS, "risk"), transport=transports())
    team = Team([RemoteAgent(n) for n in ("lead", *ANALYSTS, "risk")], transport=transports())
    rec = EventRecorder(team.bus)
    result = team.run(Plan(tasks=[Task(id="dd", agent="lead")]), workflow_id="wf", timeout=20)
    team.stop()
    assert result.ok
    assert result.answer == {"by": "risk", "did": "assess", "from": sorted(ANALYSTS)}
    child = result.tasks[0].workflow
    assert child is not None
    assert (child.workflow_id, [t.task_id for t in child.tasks]) == ("wf/dd.1", [*ANALYSTS, "risk"])
    check_protocol(rec.events)
