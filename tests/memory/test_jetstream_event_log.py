"""The JetStream event log beyond the shared contract: processes, outages, duplicates, versions.

Against a real ``nats-server -js`` on loopback (the ``nats_server`` fixture); each test
has its own namespace, so its own stream.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import ClassVar, Literal

import pytest

from actors.testing.nats_server import NatsServer
from bus import (
    Event,
    EventBus,
    NatsTransport,
    TaskCompleted,
    WorkflowFinished,
    WorkflowStarted,
)
from bus.lowlevel import Envelope, write_cloudevent
from memory import JetStreamEventLog, MemoryStoreError, Retention
from tests.helpers import ROOT, wait_until

Transports = Callable[..., NatsTransport]


class Ping(Event):
    """An event addressed to an actor name, so the bus sends it to the process serving it."""

    type: Literal["test.ping"] = "test.ping"
    recipient_field: ClassVar[str | None] = "to"
    to: str
    n: int


def completed(n: object, workflow_id: str = "w") -> TaskCompleted:
    return TaskCompleted(workflow_id=workflow_id, task_id="t", agent="a", result=n)


def results(events: list[Event]) -> list[object]:
    return [e.result for e in events if isinstance(e, TaskCompleted)]


def test_events_from_another_process_are_logged_on_the_loop_thread_without_waiting(
    transports: Transports,
) -> None:
    # The receiving process appends on its transport's loop thread, which also publishes
    # the log: with room for one event, an append waiting there would stop both.
    sender, receiver = transports(), transports()
    sent_log = JetStreamEventLog(sender)
    received_log = JetStreamEventLog(receiver, max_pending=1, backpressure_timeout=60)
    sender_bus = sender.bus(event_log=sent_log, tracing=False)
    receiver_bus = receiver.bus(event_log=received_log, tracing=False)
    got: list[int] = []
    receiver_bus.subscribe(Ping, lambda ping: got.append(ping.n))
    sender.reach(["sink"])  # served by the receiving process
    sender_bus.subscribe(Ping, "sink", recipient="sink")
    receiver.serve(["sink"])
    for n in range(300):
        sender_bus.publish(Ping(to="sink", n=n, workflow_id="w"))
    assert wait_until(lambda: len(got) == 300, timeout=20), len(got)
    assert got == list(range(300))
    sent_log.flush()
    received_log.flush()
    # Both processes appended each event; JetStream kept one copy (same Nats-Msg-Id).
    assert len(received_log) == 300
    assert [e.n for e in received_log.events("w") if isinstance(e, Ping)] == list(range(300))
    for log in (sent_log, received_log):
        log.close()
    sender_bus.stop()
    receiver_bus.stop()


def test_a_copy_stored_again_after_the_duplicate_window_is_read_once(
    transports: Transports,
) -> None:
    transport = transports()
    log = JetStreamEventLog(transport)
    event = completed(1)
    log.append(Envelope(event))
    log.append(Envelope(completed(2)))
    payload, headers = write_cloudevent(Envelope(event))  # no Nats-Msg-Id: stored again
    subject = f"{transport.subjects.namespace}.log.w.task%2Ecompleted"
    transport.call(transport.jetstream.publish(subject, payload, headers=headers), 5)
    assert len(log) == 3
    assert [e.id for e in log.events("w")] == [event.id, log.events("w")[1].id]
    assert results(log.events("w")) == [1, 2]
    log.close()


def test_each_appenders_events_come_back_in_its_order(transports: Transports) -> None:
    # As if a publish of "a 1" failed and its retry was stored after "a 2" and "b 0".
    transport = transports()
    log = JetStreamEventLog(transport)
    subject = f"{transport.subjects.namespace}.log.w.task%2Ecompleted"
    for appender, n, result in (("a", 0, 0), ("a", 2, 2), ("b", 0, 10), ("a", 1, 1)):
        payload, headers = write_cloudevent(Envelope(completed(result)))
        headers |= {"Actorchestra-Append": f"{appender} {n}", "Actorchestra-Schema-Version": "1"}
        transport.call(transport.jetstream.publish(subject, payload, headers=headers), 5)
    assert results(log.events("w")) == [0, 1, 10, 2]
    log.close()


def test_nothing_is_lost_when_the_server_restarts_between_appends_and_reads(
    nats_server: NatsServer, transports: Transports
) -> None:
    log = JetStreamEventLog(transports(), outage_timeout=30)
    bus = EventBus(event_log=log, tracing=False)
    bus.publish(WorkflowStarted(workflow_id="w", name="kept", plan={"tasks": []}))
    for n in range(100):
        bus.publish(completed(n))
    log.flush()
    nats_server.kill()
    for n in range(100, 150):  # queued while the server is down, published once it is back
        bus.publish(completed(n))
    nats_server.start()
    log.flush(30)
    nats_server.restart()  # file storage: what was acknowledged is on disk
    reader = JetStreamEventLog(transports())
    assert results(reader.events("w")) == list(range(150))
    assert [w.name for w in reader.workflows()] == ["kept"]
    assert log.lost == 0
    for each in (log, reader):
        each.close()
    bus.stop()


def test_a_publish_that_failed_is_retried_in_order(
    transports: Transports, caplog: pytest.LogCaptureFixture
) -> None:
    transport = transports()
    log = JetStreamEventLog(transport, outage_timeout=30)
    log.append(Envelope(completed(0)))
    log.flush()
    config = transport.call(transport.jetstream.stream_info(log.stream), 5).config
    transport.call(transport.jetstream.delete_stream(log.stream), 5)  # no one stores now
    with caplog.at_level(logging.DEBUG, logger="memory"):
        for n in range(1, 20):
            log.append(Envelope(completed(n)))
        assert wait_until(lambda: "publish failed" in caplog.text)
    transport.call(transport.jetstream.add_stream(config), 5)
    log.flush(30)
    assert results(log.events("w")) == list(range(1, 20))
    assert log.lost == 0
    log.close()


def test_a_publisher_waits_for_room_a_bounded_time(
    nats_server: NatsServer, transports: Transports
) -> None:
    log = JetStreamEventLog(transports(), max_pending=2, backpressure_timeout=0.2)
    nats_server.kill()
    raised: list[BaseException] = []

    def third() -> None:
        try:
            log.append(Envelope(completed(3)))
        except MemoryStoreError as exc:
            raised.append(exc)

    try:
        log.append(Envelope(completed(1)))
        log.append(Envelope(completed(2)))
        waiting = threading.Thread(target=third)
        waiting.start()
        waiting.join(10)
        assert not waiting.is_alive(), "the append waited for room without a bound"
    finally:
        nats_server.start()
    [error] = raised
    assert re.match(
        r"^Event log 't\w+-log' has 2 events waiting for JetStream after 0.2 s; "
        r"is the server reachable\?$",
        str(error),
    )
    log.flush(30)
    assert results(log.events("w")) == [1, 2]
    log.close()


def test_an_event_jetstream_refuses_is_counted_and_the_log_goes_on(
    transports: Transports, caplog: pytest.LogCaptureFixture
) -> None:
    log = JetStreamEventLog(transports())
    log.append(Envelope(completed(1)))
    log.append(Envelope(completed("x" * 2_000_000)))  # over the server's max payload (1 MB)
    log.append(Envelope(completed(3)))
    assert results(log.events("w")) == [1, 3]
    assert log.lost == 1
    assert "lost an event on" in caplog.text
    log.close()


def test_records_of_newer_schemas_unknown_types_and_damage(
    transports: Transports, caplog: pytest.LogCaptureFixture
) -> None:
    transport = transports()
    log = JetStreamEventLog(transport)
    subject = f"{transport.subjects.namespace}.log.w.any"
    payload, headers = write_cloudevent(Envelope(completed(1)))
    newer = json.loads(payload)
    newer["data"]["confidence"] = 0.9  # a field a later release added
    unknown = {**newer, "id": "u1", "type": "io.actorchestra.acme.price_changed", "data": {}}
    for fields in (newer, unknown, {**unknown, "id": "u2"}):
        head = headers | {"Actorchestra-Schema-Version": "2"}
        transport.call(
            transport.jetstream.publish(subject, json.dumps(fields).encode(), headers=head), 5
        )
    transport.call(transport.jetstream.publish(subject, b"not a cloudevent"), 5)
    with caplog.at_level(logging.WARNING, logger="memory"):
        [event] = log.events("w")
    assert isinstance(event, TaskCompleted)
    assert event.result == 1
    assert log.skipped == 3  # two of an unknown type, one damaged
    assert "of type 'acme.price_changed' (schema version 2)" in caplog.text
    broken = {**newer, "id": "b1", "attempt": 0}  # attempts start at 1
    transport.call(
        transport.jetstream.publish(subject, json.dumps(broken).encode(), headers=headers), 5
    )
    with pytest.raises(MemoryStoreError, match=r"holds a task.completed event .* cannot read"):
        log.events("w")
    log.close()


def test_automatic_retention_bounds_the_stream(transports: Transports) -> None:
    log = JetStreamEventLog(transports(), retention=Retention(max_workflows=1), retain_every=0.05)
    bus = EventBus(event_log=log, tracing=False)
    for n in range(3):
        wid = f"w{n}"
        bus.publish(WorkflowStarted(workflow_id=wid, plan={"tasks": []}))
        bus.publish(completed(n, wid))
        bus.publish(WorkflowFinished(workflow_id=wid, status="completed", duration=0))
    assert wait_until(lambda: [w.id for w in log.workflows()] == ["w2"], timeout=10)
    assert len(log) == 3
    log.close()
    bus.stop()


def test_a_log_left_open_is_published_when_the_interpreter_exits(
    nats_server: NatsServer, nats_namespace: str, transports: Transports
) -> None:
    code = (
        "import sys\n"
        "from bus import EventBus, NatsTransport, TaskCompleted\n"
        "from memory import JetStreamEventLog\n"
        "log = JetStreamEventLog(NatsTransport(sys.argv[1], namespace=sys.argv[2]))\n"
        "bus = EventBus(tracing=False, event_log=log)\n"
        "for i in range(2000):\n"
        "    bus.publish(TaskCompleted(workflow_id='w', task_id=str(i), agent='a'))\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, nats_server.url, nats_namespace],
        check=True,
        timeout=60,
        cwd=ROOT,
    )
    log = JetStreamEventLog(transports())
    assert [e.task_id for e in log.events("w")] == [str(i) for i in range(2000)]
    log.close()


def test_flushing_on_the_transports_loop_thread_is_refused(transports: Transports) -> None:
    transport = transports()
    log = JetStreamEventLog(transport)
    raised: list[BaseException] = []
    done = threading.Event()

    async def flush_there() -> None:
        try:
            log.flush(1)
        except MemoryStoreError as exc:
            raised.append(exc)
        done.set()

    transport.spawn(flush_there(), "a flush on the loop")
    assert done.wait(5)
    assert "cannot be flushed or read on the NATS loop thread" in str(raised[0])
    log.close()
