from __future__ import annotations

import functools
import threading

import pykka
import pytest

from actors import (
    Actor,
    ChildSpec,
    ConfigurationError,
    RestartPolicy,
    RestartStrategy,
    Supervisor,
)
from actors.lowlevel import RestartIntensity
from actors.testing import EventRecorder
from bus import (
    ChildCrashed,
    ChildRestarted,
    ChildStarted,
    Event,
    EventBus,
    SupervisorEscalated,
    TaskStarted,
)
from tests.helpers import Collector, wait_until


class Worker(Actor):
    """Crashes on "crash", raises SystemExit on "exit", stops itself on "stop"."""

    stop_log: list[str] | None = None

    def on_stop(self) -> None:
        if self.stop_log is not None:
            self.stop_log.append(self.name)

    def on_message(self, message: object) -> object:
        if message == "crash":
            raise RuntimeError("worker crashed")
        if message == "exit":
            raise SystemExit(1)
        if message == "stop":
            self.stop()
        return self.name


def spec(bus: EventBus, name: str, restart: RestartPolicy = RestartPolicy.PERMANENT) -> ChildSpec:
    return ChildSpec(id=name, start=lambda: Worker.start(name=name, bus=bus), restart=restart)


def start(bus: EventBus, children: list[ChildSpec], **kwargs: object) -> pykka.ActorRef[Supervisor]:
    return Supervisor.start(name="sup", bus=bus, children=children, **kwargs)


def urns(bus: EventBus, *names: str) -> list[str]:
    refs = [bus.lookup(n) for n in names]
    return [r.actor_urn if r is not None else "" for r in refs]


def restarted(rec: EventRecorder, n: int) -> bool:
    return len(rec.of_type(ChildRestarted)) >= n


def tell(bus: EventBus, name: str, message: object) -> None:
    ref = bus.lookup(name)
    assert ref is not None
    ref.tell(message)


def test_children_start_in_order_and_stop_in_reverse(bus: EventBus) -> None:
    rec = EventRecorder(bus, ChildStarted)
    sup = start(bus, [spec(bus, "a"), spec(bus, "b"), spec(bus, "c")])
    assert [e.child for e in rec.of_type(ChildStarted)] == ["a", "b", "c"]
    stopped: list[str] = []
    for name in "abc":
        ref = bus.lookup(name)
        assert ref is not None
        ref.proxy().stop_log = stopped
    sup.stop(timeout=5)
    assert stopped == ["c", "b", "a"]
    assert all(bus.lookup(n) is None for n in "abc")


@pytest.mark.parametrize(
    ("strategy", "restarted_children"),
    [
        (RestartStrategy.ONE_FOR_ONE, {"b"}),
        (RestartStrategy.ONE_FOR_ALL, {"a", "b", "c"}),
        (RestartStrategy.REST_FOR_ONE, {"b", "c"}),
    ],
)
def test_restart_strategies_restart_exactly_the_right_children(
    bus: EventBus, strategy: RestartStrategy, restarted_children: set[str]
) -> None:
    rec = EventRecorder(bus)
    start(bus, [spec(bus, "a"), spec(bus, "b"), spec(bus, "c")], strategy=strategy)
    before = dict(zip("abc", urns(bus, "a", "b", "c"), strict=True))
    tell(bus, "b", "crash")
    assert wait_until(lambda: restarted(rec, len(restarted_children)))
    after = dict(zip("abc", urns(bus, "a", "b", "c"), strict=True))
    assert {n for n in "abc" if before[n] != after[n]} == restarted_children
    assert {e.child for e in rec.of_type(ChildRestarted)} == restarted_children
    [crash] = rec.of_type(ChildCrashed)
    assert (crash.child, crash.error_type, crash.message) == ("b", "RuntimeError", "worker crashed")
    assert all(bus.lookup(n) is not None and bus.lookup(n).is_alive() for n in "abc")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("policy", "message", "restarts"),
    [
        (RestartPolicy.PERMANENT, "crash", True),
        (RestartPolicy.PERMANENT, "stop", True),
        (RestartPolicy.TRANSIENT, "crash", True),
        (RestartPolicy.TRANSIENT, "stop", False),
        (RestartPolicy.TEMPORARY, "crash", False),
        (RestartPolicy.TEMPORARY, "stop", False),
    ],
)
def test_restart_types(bus: EventBus, policy: RestartPolicy, message: str, restarts: bool) -> None:
    rec = EventRecorder(bus)
    sup = start(bus, [spec(bus, "w", policy), spec(bus, "marker")])
    old = bus.lookup("w")
    tell(bus, "w", message)
    assert old is not None and wait_until(lambda: not old.is_alive())
    # A tree query is handled after the exit message, so the decision is made by then.
    tree = Supervisor.tree(sup)
    if restarts:
        assert wait_until(lambda: restarted(rec, 1))
        assert bus.lookup("w") is not None and bus.lookup("w") != old
    else:
        assert bus.lookup("w") is None
        assert rec.of_type(ChildRestarted) == []
    ids = [c.id for c in tree]
    assert ("w" in ids) == (policy is not RestartPolicy.TEMPORARY)


def test_a_base_exception_crashes_only_its_actor(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    start(bus, [spec(bus, "a"), spec(bus, "b")])
    b_before = bus.lookup("b")
    tell(bus, "a", "exit")
    assert wait_until(lambda: restarted(rec, 1))
    [crash] = rec.of_type(ChildCrashed)
    assert crash.error_type == "SystemExit"
    assert bus.lookup("b") == b_before and b_before is not None and b_before.is_alive()


def test_exceeding_restart_intensity_escalates_and_root_stops_its_children(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    sup = start(bus, [spec(bus, "a"), spec(bus, "b")], max_restarts=2, period=60)
    for n in range(3):
        tell(bus, "a", "crash")
        if n < 2:
            assert wait_until(functools.partial(restarted, rec, n + 1))
    assert wait_until(lambda: len(rec.of_type(SupervisorEscalated)) == 1)
    [esc] = rec.of_type(SupervisorEscalated)
    assert (esc.supervisor, esc.restarts, esc.fatal) == ("sup", 3, True)
    assert wait_until(lambda: not sup.is_alive())
    assert bus.lookup("a") is None and bus.lookup("b") is None


def test_escalation_reaches_the_parent_which_restarts_the_subtree(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    inner = ChildSpec(
        id="inner",
        start=lambda: Supervisor.start(
            name="inner", bus=bus, children=[spec(bus, "w")], max_restarts=0
        ),
    )
    Supervisor.start(name="root", bus=bus, children=[inner, spec(bus, "sibling")])
    sibling = bus.lookup("sibling")
    tell(bus, "w", "crash")
    assert wait_until(lambda: any(e.child == "inner" for e in rec.of_type(ChildRestarted)))
    [esc] = rec.of_type(SupervisorEscalated)
    assert (esc.supervisor, esc.fatal) == ("inner", False)
    assert [c.child for c in rec.of_type(ChildCrashed)] == ["w", "inner"]
    assert bus.lookup("sibling") == sibling
    assert wait_until(lambda: bus.lookup("w") is not None and bus.lookup("w").is_alive())  # type: ignore[union-attr]


def test_crashed_childs_queued_events_go_to_its_successor(bus: EventBus) -> None:
    got: list[Event] = []
    done = threading.Event()
    gate = threading.Event()

    class Slow(Collector):
        def on_event(self, event: Event) -> None:
            if event.task_id == "crash":
                gate.wait(5)
            super().on_event(event)

    child = ChildSpec(
        id="c", start=lambda: Slow.start(name="c", bus=bus, sink=got, done=done, until=3)
    )
    bus.subscribe(TaskStarted, "c", recipient="c")
    start(bus, [child])
    bus.publish(TaskStarted(agent="c", task_id="crash"))
    for i in range(3):
        bus.publish(TaskStarted(agent="c", task_id=f"t{i}"))
    gate.set()
    assert done.wait(5)
    assert [e.task_id for e in got] == ["t0", "t1", "t2"]


def test_tree_reports_children_and_restart_counts(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    inner = ChildSpec(
        id="inner", start=lambda: Supervisor.start(name="inner", bus=bus, children=[spec(bus, "w")])
    )
    root = Supervisor.start(name="root", bus=bus, children=[inner, spec(bus, "x")])
    tell(bus, "w", "crash")
    assert wait_until(lambda: restarted(rec, 1))
    tree = Supervisor.tree(root)
    assert Supervisor.format_tree(tree) == (
        "inner [alive, permanent, restarts=0]\n"
        "  w [alive, permanent, restarts=1]\n"
        "x [alive, permanent, restarts=0]"
    )


def test_failed_child_start_stops_the_started_ones_and_raises(bus: EventBus) -> None:
    def broken() -> pykka.ActorRef[Worker]:
        raise OSError("no such device")

    with pytest.raises(OSError, match="no such device"):
        start(bus, [spec(bus, "a"), ChildSpec(id="b", start=broken)])
    assert bus.lookup("a") is None


def test_duplicate_child_ids_are_rejected(bus: EventBus) -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"^Supervisor 'sup' has duplicate child ids \['a'\]; make them unique\.$",
    ):
        start(bus, [spec(bus, "a"), spec(bus, "a")])


def test_no_thread_leaks_after_stop(bus: EventBus) -> None:
    before = threading.active_count()
    inner = ChildSpec(
        id="inner", start=lambda: Supervisor.start(name="inner", bus=bus, children=[spec(bus, "w")])
    )
    root = Supervisor.start(name="root", bus=bus, children=[inner, spec(bus, "x")])
    assert threading.active_count() == before + 4
    root.stop(timeout=5)
    assert wait_until(lambda: threading.active_count() == before)


def test_restart_intensity_counts_within_the_window() -> None:
    now = [0.0]
    intensity = RestartIntensity(2, 10.0, clock=lambda: now[0])
    assert intensity.add_restart() and intensity.add_restart()
    now[0] = 5.0
    assert not intensity.add_restart()
    now[0] = 20.0
    assert intensity.add_restart()
    assert intensity.recent == 1
    with pytest.raises(ValueError, match=r"^Restart intensity -1 in 5 s is invalid"):
        RestartIntensity(-1, 5)
