"""Backoff, death-watch, crashes on start, shutdown timeouts and dynamic children."""

from __future__ import annotations

import functools
import logging
import threading
from typing import ClassVar

import pykka
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors import (
    Actor,
    Backoff,
    ChildSpec,
    ConfigurationError,
    DynamicSupervisor,
    RestartPolicy,
    Supervisor,
)
from actors.testing import EventRecorder
from bus import ActorTerminated, ChildCrashed, ChildRestarted, Event, EventBus
from tests.helpers import wait_until


class Worker(Actor):
    def on_message(self, message: object) -> object:
        if message == "crash":
            raise RuntimeError("worker crashed")
        if message == "stop":
            self.stop()
        return self.name


class Watcher(Actor):
    def __init__(self, *, name: str, bus: EventBus, target: str, sink: list[Event]) -> None:
        super().__init__(name=name, bus=bus)
        self.target, self.sink = target, sink

    def on_start(self) -> None:
        self.watch(self.target)

    def on_event(self, event: Event) -> None:
        self.sink.append(event)


def worker(bus: EventBus, name: str, **kwargs: object) -> ChildSpec:
    return ChildSpec(id=name, start=lambda: Worker.start(name=name, bus=bus), **kwargs)  # type: ignore[arg-type]


def restarted(n: int, events: list[Event]) -> bool:
    return sum(isinstance(e, ChildRestarted) for e in events) == n


def tell(bus: EventBus, name: str, message: object) -> None:
    ref = bus.lookup(name)
    assert ref is not None
    ref.tell(message)


@given(
    minimum=st.floats(0.001, 1.0),
    factor=st.floats(1.0, 100.0),
    jitter=st.floats(0.0, 1.0),
    attempt=st.integers(1, 60),
)
def test_backoff_delay_doubles_within_its_bounds(
    minimum: float, factor: float, jitter: float, attempt: int
) -> None:
    backoff = Backoff(minimum=minimum, maximum=minimum * factor, jitter=jitter)
    base = min(backoff.maximum, minimum * 2.0 ** (attempt - 1))
    delay = backoff.delay(attempt)
    assert base <= delay <= base * (1 + jitter) * (1 + 1e-9)


def test_backoff_rejects_invalid_bounds() -> None:
    with pytest.raises(
        ValueError,
        match=r"^Backoff\(minimum=2, maximum=1, jitter=0\.2\) is invalid; "
        r"use 0 < minimum <= maximum and jitter >= 0\.$",
    ):
        Backoff(minimum=2, maximum=1)


def test_restarts_wait_for_the_backoff_delay(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    backoff = Backoff(minimum=0.05, maximum=0.2, jitter=0.5, reset_after=60)
    Supervisor.start(
        name="sup", bus=bus, children=[worker(bus, "w", backoff=backoff)], max_restarts=10
    )
    for n in range(1, 5):
        tell(bus, "w", "crash")
        assert rec.wait_for(functools.partial(restarted, n))
    crashes = rec.of_type(ChildCrashed)
    restarts = rec.of_type(ChildRestarted)
    waits = [(r.time - c.time).total_seconds() for c, r in zip(crashes, restarts, strict=True)]
    # Lower bounds are hard (0.05, 0.1, 0.2, 0.2 s); the upper bound only catches a spin-free
    # schedule gone wrong (the jitter allows x1.5), with a second of slack for a busy machine.
    for wait, base in zip(waits, [0.05, 0.1, 0.2, 0.2], strict=True):
        assert base <= wait <= base * 1.5 + 1.0, waits
    assert [r.restart_count for r in restarts] == [1, 2, 3, 4]


def test_death_watch_reports_crashes_and_stops_of_every_incarnation(bus: EventBus) -> None:
    seen: list[Event] = []
    Supervisor.start(
        name="sup",
        bus=bus,
        children=[
            worker(bus, "target"),
            ChildSpec(
                id="watcher",
                start=lambda: Watcher.start(name="watcher", bus=bus, target="target", sink=seen),
            ),
        ],
    )
    tell(bus, "target", "crash")
    assert wait_until(lambda: len(seen) == 1)
    assert wait_until(lambda: bus.lookup("target") is not None and bus.lookup("target").is_alive())  # type: ignore[union-attr]
    tell(bus, "target", "stop")
    assert wait_until(lambda: len(seen) == 2)
    crash, stop = seen
    assert isinstance(crash, ActorTerminated) and isinstance(stop, ActorTerminated)
    assert (crash.actor, crash.abnormal, crash.error_type, crash.message) == (
        "target",
        True,
        "RuntimeError",
        "worker crashed",
    )
    assert (stop.actor, stop.abnormal, stop.error_type) == ("target", False, "")


def test_watch_needs_a_bus() -> None:
    actor = Worker(name="lonely")
    with pytest.raises(
        ConfigurationError,
        match=r"^Actor 'lonely' has no bus; give it one to watch 'x'\.$",
    ):
        actor.watch("x")


def test_an_exception_in_on_start_is_a_crash_of_that_child(bus: EventBus) -> None:
    class FlakyStart(Actor):
        starts: ClassVar[list[int]] = []

        def on_start(self) -> None:
            self.starts.append(1)
            if len(self.starts) == 1:
                raise OSError("model endpoint not reachable")

    rec = EventRecorder(bus)
    Supervisor.start(
        name="sup",
        bus=bus,
        children=[ChildSpec(id="f", start=lambda: FlakyStart.start(name="f", bus=bus))],
    )
    assert rec.wait_for(lambda ev: any(isinstance(e, ChildRestarted) for e in ev))
    [crash] = rec.of_type(ChildCrashed)
    assert (crash.child, crash.error_type, crash.message) == (
        "f",
        "OSError",
        "model endpoint not reachable",
    )
    assert wait_until(lambda: bus.lookup("f") is not None and bus.lookup("f").is_alive())  # type: ignore[union-attr]


def test_a_child_that_does_not_stop_in_time_is_reported_and_abandoned(
    bus: EventBus, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()

    class Stubborn(Actor):
        def on_stop(self) -> None:
            release.wait(10)

    sup = Supervisor.start(
        name="sup",
        bus=bus,
        children=[
            ChildSpec(id="s", start=lambda: Stubborn.start(name="s", bus=bus), shutdown_timeout=0.2)
        ],
    )
    try:
        with caplog.at_level(logging.WARNING):
            sup.stop(block=True, timeout=5)  # raises pykka.Timeout if the supervisor hangs
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
            "Supervisor 'sup' abandoned 's' that did not stop in time (they ignore "
            "cancellation); their late events are dropped"
        ]
    finally:
        release.set()


def test_dynamic_supervisor_starts_restarts_and_stops_instances(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    pool = DynamicSupervisor.start(
        name="pool", bus=bus, template=lambda i: worker(bus, i), max_children=2
    )
    assert DynamicSupervisor.start_instance(pool) == "pool.1"
    assert DynamicSupervisor.start_instance(pool, "special") == "special"
    with pytest.raises(
        ConfigurationError,
        match=r"^DynamicSupervisor 'pool' already runs 2 children, its max_children; "
        r"stop one first\.$",
    ):
        DynamicSupervisor.start_instance(pool)
    first = bus.lookup("pool.1")
    tell(bus, "pool.1", "crash")
    assert rec.wait_for(lambda ev: any(isinstance(e, ChildRestarted) for e in ev))
    assert bus.lookup("pool.1") not in (None, first)
    Supervisor.terminate_child(pool, "pool.1")
    assert bus.lookup("pool.1") is None
    assert [c.id for c in Supervisor.tree(pool)] == ["special"]
    assert DynamicSupervisor.start_instance(pool) == "pool.2"
    with pytest.raises(ConfigurationError, match=r"^Supervisor 'pool' has no child 'nope'\.$"):
        Supervisor.terminate_child(pool, "nope")


def test_running_stops_the_whole_tree_on_exit(bus: EventBus) -> None:
    before = set(threading.enumerate())
    with Supervisor.running(
        name="root", bus=bus, children=[worker(bus, "a"), worker(bus, "b")]
    ) as root:
        started = set(threading.enumerate()) - before
        assert root.is_alive() and len(started) == 3
    assert not root.is_alive()
    assert bus.lookup("a") is None and bus.lookup("b") is None
    assert wait_until(lambda: not any(t.is_alive() for t in started))


def test_a_failing_tree_leaves_the_rest_of_the_process_running(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    bystander = Worker.start(name="bystander", bus=bus)
    sup = Supervisor.start(
        name="sup",
        bus=bus,
        children=[worker(bus, "w", restart=RestartPolicy.PERMANENT)],
        max_restarts=0,
    )
    tell(bus, "w", "crash")
    assert wait_until(lambda: not sup.is_alive())
    assert rec.wait_for(lambda ev: any(getattr(e, "fatal", False) for e in ev))
    assert bystander.ask("ping", timeout=5) == "bystander"
    with pytest.raises(pykka.ActorDeadError):
        sup.ask("ping", timeout=1)
