from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pykka
import pytest

from actors import Actor
from actors._link import linking
from actors.lowlevel import ActorExit
from actors.testing import EventRecorder
from bus import (
    BusClosedError,
    ConfigurationError,
    DeadLetter,
    Event,
    EventBus,
    TaskCompleted,
    TaskStarted,
)
from bus.lowlevel import AddressBook, Envelope, InProcessAddressBook
from tests.helpers import Collector, wait_until


def test_a_subscriber_receives_1000_events_in_publish_order(bus: EventBus) -> None:
    got: list[Event] = []
    done = threading.Event()
    Collector.start(name="c", bus=bus, sink=got, done=done, until=1000)
    bus.subscribe(TaskStarted, "c", recipient="c")
    for i in range(1000):
        bus.publish(TaskStarted(agent="c", task_id=f"t{i}"))
    assert done.wait(10)
    assert [e.task_id for e in got] == [f"t{i}" for i in range(1000)]


def test_events_from_each_publisher_stay_in_order_with_concurrent_publishers(bus: EventBus) -> None:
    got: list[Event] = []
    done = threading.Event()
    Collector.start(name="c", bus=bus, sink=got, done=done, until=4 * 300)
    bus.subscribe(TaskCompleted, "c")

    def publisher(p: int) -> None:
        for i in range(300):
            bus.publish(TaskCompleted(agent="x", source=f"p{p}", task_id=str(i)))

    threads = [threading.Thread(target=publisher, args=(p,)) for p in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert done.wait(10)
    for p in range(4):
        assert [int(e.task_id) for e in got if e.source == f"p{p}"] == list(range(300))


def test_subscription_by_base_type_receives_every_subtype(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    bus.publish(TaskCompleted(agent="a"))
    bus.publish(TaskStarted(agent="nobody-listens"))
    assert [e.type for e in rec.events] == ["task.completed", "task.started", "bus.dead_letter"]


def test_addressed_event_without_subscriber_becomes_a_dead_letter(bus: EventBus) -> None:
    dead = EventRecorder(bus, DeadLetter)
    started = TaskStarted(agent="ghost", task_id="t1", workflow_id="w", attempt=2)
    bus.publish(started)
    [letter] = dead.of_type(DeadLetter)
    assert (letter.subscriber, letter.reason) == ("ghost", "no subscriber")
    assert (letter.workflow_id, letter.task_id, letter.attempt, letter.causation_id) == (
        "w",
        "t1",
        2,
        started.id,
    )
    assert letter.event["type"] == "task.started"
    assert bus.statistics().dead_letters == 1


def test_event_for_an_unbound_name_becomes_a_dead_letter(bus: EventBus) -> None:
    dead = EventRecorder(bus, DeadLetter)
    bus.subscribe(TaskCompleted, "not-started")
    bus.publish(TaskCompleted(agent="a"))
    assert [(d.subscriber, d.reason) for d in dead.of_type(DeadLetter)] == [
        ("not-started", "subscriber not bound")
    ]


def test_a_raising_callable_subscriber_gets_a_dead_letter_and_others_still_receive(
    bus: EventBus,
) -> None:
    dead = EventRecorder(bus, DeadLetter)
    got: list[Event] = []

    def broken(_event: TaskCompleted) -> None:
        raise ValueError("nope")

    bus.subscribe(TaskCompleted, broken)
    bus.subscribe(TaskCompleted, got.append)
    bus.publish(TaskCompleted(agent="a"))
    assert len(got) == 1
    [letter] = dead.of_type(DeadLetter)
    assert letter.reason == "subscriber raised ValueError: nope"


def test_stopped_unsupervised_actor_unbinds_and_later_events_are_dead_letters(
    bus: EventBus,
) -> None:
    dead = EventRecorder(bus, DeadLetter)
    ref = Collector.start(name="c", bus=bus, sink=[])
    bus.subscribe(TaskCompleted, "c")
    ref.stop()
    assert bus.lookup("c") is None
    bus.publish(TaskCompleted(agent="a"))
    assert [d.reason for d in dead.of_type(DeadLetter)] == ["subscriber not bound"]


def test_events_for_a_crashed_linked_actor_are_parked_and_handed_to_its_successor(
    bus: EventBus,
) -> None:
    exits: list[ActorExit] = []
    first: list[Event] = []
    with linking(exits.append):
        Collector.start(name="c", bus=bus, sink=first)
    bus.subscribe(TaskStarted, "c", recipient="c")
    bus.publish(TaskStarted(agent="c", task_id="crash"))
    assert wait_until(lambda: len(exits) == 1)
    assert isinstance(exits[0].reason, RuntimeError)
    assert exits[0].in_flight is not None and exits[0].in_flight.event.task_id == "crash"
    for i in range(3):
        bus.publish(TaskStarted(agent="c", task_id=f"t{i}"))
    assert bus.statistics().parked == 3
    second: list[Event] = []
    done = threading.Event()
    Collector.start(name="c", bus=bus, sink=second, done=done, until=4)
    bus.publish(TaskStarted(agent="c", task_id="t3"))
    assert done.wait(5)
    assert [e.task_id for e in second] == ["t0", "t1", "t2", "t3"]
    assert bus.statistics().parked == 0


def test_unbind_turns_parked_events_into_dead_letters(bus: EventBus) -> None:
    exits: list[ActorExit] = []
    with linking(exits.append):
        ref = Collector.start(name="c", bus=bus, sink=[])
    bus.subscribe(TaskStarted, "c", recipient="c")
    bus.publish(TaskStarted(agent="c", task_id="crash"))
    assert wait_until(lambda: len(exits) == 1)
    dead = EventRecorder(bus, DeadLetter)
    bus.publish(TaskStarted(agent="c", task_id="t1"))
    bus.unbind("c", ref)
    assert [(d.task_id, d.reason) for d in dead.of_type(DeadLetter)] == [
        ("t1", "subscriber stopped")
    ]


def test_binding_a_name_held_by_a_live_actor_is_an_error(bus: EventBus) -> None:
    ref = Collector.start(name="c", bus=bus, sink=[])
    with pytest.raises(
        ConfigurationError,
        match=r"^Name 'c' is already bound to live actor .*; stop that actor or unbind the name first\.$",
    ):
        Collector.start(name="c", bus=bus, sink=[])
    assert bus.lookup("c") == ref


def test_subscribe_validates_its_arguments_and_is_idempotent_for_names(bus: EventBus) -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"^Cannot subscribe to <class 'int'>: it is not a subclass of bus\.Event\.$",
    ):
        bus.subscribe(int, "x")  # type: ignore[type-var]
    with pytest.raises(
        ConfigurationError,
        match=r"^Cannot subscribe an actor with an empty name; give it a stable name\.$",
    ):
        bus.subscribe(TaskStarted, "")
    a = bus.subscribe(TaskStarted, "x", recipient="x")
    assert bus.subscribe(TaskStarted, "x", recipient="x") is a
    assert bus.statistics().subscriptions == 1
    bus.unsubscribe(a)
    bus.unsubscribe(a)
    assert bus.statistics().subscriptions == 0


def test_where_filters_in_the_publisher_thread(bus: EventBus) -> None:
    got: list[TaskCompleted] = []
    bus.subscribe(TaskCompleted, got.append, where=lambda e: e.agent == "legal")
    bus.publish(TaskCompleted(agent="hr"))
    bus.publish(TaskCompleted(agent="legal"))
    assert [e.agent for e in got] == ["legal"]


def test_a_stopped_bus_refuses_publish_and_subscribe() -> None:
    bus = EventBus(tracing=False)
    bus.stop()
    msg = r"^EventBus is stopped; create a new bus to publish or subscribe again\.$"
    with pytest.raises(BusClosedError, match=msg):
        bus.publish(TaskCompleted(agent="a"))
    with pytest.raises(BusClosedError, match=msg):
        bus.subscribe(TaskCompleted, "a")


def test_actor_without_bus_handles_direct_messages() -> None:
    class Echo(Actor):
        def on_message(self, message: object) -> object:
            return message

    ref = Echo.start(name="echo")
    assert ref.ask("hi", timeout=5) == "hi"


class RecordingAddressBook:
    """An AddressBook that records what the bus asks of it, delivering in process."""

    def __init__(self) -> None:
        self.inner = InProcessAddressBook()
        self.calls: list[tuple[str, str]] = []
        self.delivered: list[object] = []

    def bind(self, name: str, ref: pykka.ActorRef[Any]) -> None:
        self.calls.append(("bind", name))
        self.inner.bind(name, ref)

    def unbind(self, name: str, ref: pykka.ActorRef[Any] | None = None) -> list[object]:
        self.calls.append(("unbind", name))
        return self.inner.unbind(name, ref)

    def lookup(self, name: str) -> pykka.ActorRef[Any] | None:
        return self.inner.lookup(name)

    def deliver(self, name: str, message: object) -> str | None:
        self.calls.append(("deliver", name))
        self.delivered.append(message)
        return self.inner.deliver(name, message)

    def requeue(self, name: str, messages: Sequence[object]) -> list[object]:
        self.calls.append(("requeue", name))
        return self.inner.requeue(name, messages)

    def bound(self) -> list[tuple[str, pykka.ActorRef[Any]]]:
        return self.inner.bound()

    def parked_count(self) -> int:
        return self.inner.parked_count()


def test_a_plugged_in_address_book_binds_and_delivers_for_the_bus() -> None:
    recording = RecordingAddressBook()
    book: AddressBook = recording  # it satisfies the protocol (mypy checks this line)
    bus = EventBus(tracing=False, address_book=book)
    dead = EventRecorder(bus, DeadLetter)
    got: list[Event] = []
    done = threading.Event()
    try:
        ref = Collector.start(name="c", bus=bus, sink=got, done=done, until=1)
        bus.subscribe(TaskStarted, "c", recipient="c")
        started = TaskStarted(agent="c", task_id="t1")
        bus.publish(started)
        assert done.wait(5)
        assert [e.id for e in got] == [started.id]
        assert bus.lookup("c") == ref
        assert bus.statistics().bound_names == 1
        [envelope] = recording.delivered
        assert isinstance(envelope, Envelope) and envelope.event is started
        bus.publish(TaskStarted(agent="ghost-free", task_id="t2"))  # no subscriber
        bus.subscribe(TaskCompleted, "nobody")
        bus.publish(TaskCompleted(agent="a"))  # the book finds no actor for "nobody"
        assert [(d.subscriber, d.reason) for d in dead.of_type(DeadLetter)] == [
            ("ghost-free", "no subscriber"),
            ("nobody", "subscriber not bound"),
        ]
        ref.stop()
        assert recording.calls == [
            ("bind", "c"),
            ("deliver", "c"),
            ("deliver", "nobody"),
            ("unbind", "c"),
        ]
        assert bus.lookup("c") is None
    finally:
        bus.stop()
