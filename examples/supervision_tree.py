# /// script
# requires-python = ">=3.11"
# dependencies = ["actorchestra"]
# ///
"""A supervision tree under injected crashes, printed as it heals.

The tree is a root supervisor (one_for_one) over

* ``agents`` (one_for_one): three agents, ``researcher``, ``writer`` and ``reviewer``;
* ``tools`` (rest_for_one): a ``db`` connection, then a ``search`` index and a
  ``cache`` that both depend on it (so a ``db`` crash restarts all three, a ``cache``
  crash only the cache);
* a ``janitor`` (transient): a clean exit is final, a crash is restarted.

Crashes, a ``SystemExit`` and clean exits are injected on a fixed schedule; the last
steps crash ``db`` until the ``tools`` supervisor exceeds its restart intensity (3
restarts in 5 s), so it escalates and the root restarts the whole subtree.
The script prints the restart log, one line per lifecycle event, and the final tree.
"""

from __future__ import annotations

import sys

from actors import (
    Actor,
    ChildSpec,
    RestartPolicy,
    RestartStrategy,
    Supervisor,
)
from actors.testing import EventRecorder
from bus import (
    ActorTerminated,
    ChildCrashed,
    ChildRestarted,
    ChildStarted,
    Event,
    EventBus,
    SupervisorEscalated,
)


class Component(Actor):
    """An agent or tool process that obeys injected faults."""

    def on_message(self, message: object) -> object:
        if message == "crash":
            raise ConnectionError(f"{self.name} lost its connection")
        if message == "exit":
            raise SystemExit(2)  # contained: crashes this actor only
        if message == "stop":
            self.stop()
        return self.name


def component(bus: EventBus, name: str, **kwargs: object) -> ChildSpec:
    return ChildSpec(id=name, start=lambda: Component.start(name=name, bus=bus), **kwargs)  # type: ignore[arg-type]


def supervisor(
    bus: EventBus, name: str, strategy: RestartStrategy, children: list[ChildSpec]
) -> ChildSpec:
    return ChildSpec(
        id=name,
        start=lambda: Supervisor.start(
            name=name, bus=bus, children=children, strategy=strategy, max_restarts=3, period=5
        ),
    )


# (target, fault, whether a new incarnation takes its name afterwards)
SCHEDULE = [
    ("writer", "crash", True),
    ("reviewer", "exit", True),
    ("cache", "crash", True),
    ("db", "crash", True),  # rest_for_one: db, search and cache restart
    ("janitor", "crash", True),
    ("janitor", "stop", False),  # transient: a clean exit is final
    ("db", "crash", True),  # the tools supervisor's 3rd restart in 5 s, its limit;
    ("db", "crash", True),  # a 4th escalates: the root restarts the whole subtree
]


def wait_settled(log: EventRecorder, since: int, target: str, replaced: bool) -> bool:
    """Wait (5 s at most) until a new ``target`` started, or, if not ``replaced``, it ended."""

    def settled(events: list[Event]) -> bool:
        for e in events[since:]:
            if replaced and isinstance(e, ChildStarted) and e.child == target:
                return True
            if not replaced and isinstance(e, ActorTerminated) and e.actor == target:
                return True
        return False

    return log.wait_for(settled, timeout=5.0)


def describe(event: Event) -> str:
    if isinstance(event, ChildCrashed):
        return f"{event.supervisor:>7}: {event.child} crashed ({event.error_type}: {event.message})"
    if isinstance(event, ChildRestarted):
        return f"{event.supervisor:>7}: restarted {event.child} (restart #{event.restart_count})"
    if isinstance(event, SupervisorEscalated):
        return (
            f"{event.supervisor:>7}: ESCALATED after {event.restarts} restarts "
            f"in {event.period:g} s"
        )
    return f"{event.source:>7}: {event.type}"


def main() -> int:
    bus = EventBus(tracing=False)
    log = EventRecorder(bus)
    children = [
        supervisor(
            bus,
            "agents",
            RestartStrategy.ONE_FOR_ONE,
            [component(bus, n) for n in ("researcher", "writer", "reviewer")],
        ),
        supervisor(
            bus,
            "tools",
            RestartStrategy.REST_FOR_ONE,
            [component(bus, n) for n in ("db", "search", "cache")],
        ),
        component(bus, "janitor", restart=RestartPolicy.TRANSIENT),
    ]
    with Supervisor.running(name="root", bus=bus, children=children, max_restarts=5) as root:
        for target, fault, replaced in SCHEDULE:
            old = bus.lookup(target)
            assert old is not None, f"{target} should be running"
            since = len(log.events)
            old.tell(fault)
            if not wait_settled(log, since, target, replaced):
                print(f"{target} did not settle after {fault!r}", file=sys.stderr)
                return 1
            # A barrier: each supervisor answers once it has handled the exits before
            # this question, so every restart of this step (and its event) is done.
            Supervisor.tree(root)
        lines = [
            describe(e)
            for e in log.events
            if isinstance(e, ChildCrashed | ChildRestarted | SupervisorEscalated)
        ]
        print("Restart log")
        print("\n".join(lines))
        print("\nFinal tree")
        print("root [alive]")
        print(Supervisor.format_tree(Supervisor.tree(root), indent="  "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
