"""Supervision trees against a plain model of OTP's rules (Hypothesis stateful testing).

Each example builds a random tree (depth <= 3: root, sub-supervisors, workers) with
random strategies, restart types and intensities, then injects crashes, BaseExceptions
and clean exits into random nodes (workers and supervisors). After every step the real
tree must equal the model's: which actors were restarted (a new incarnation bound to the
name), restart counts, which actors are alive, and escalations, exactly when intensity
is exceeded. The intensity window is 10 minutes, so within an example it never slides
and the model needs no clock.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from typing import Any

import pykka
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from actors import Actor, ChildInfo, ChildSpec, RestartPolicy, RestartStrategy, Supervisor
from actors.testing import EventRecorder
from bus import ChildRestarted, Event, EventBus, SupervisorEscalated
from tests.helpers import wait_until

PERIOD = 600.0
FAULTS = ("crash", "exit", "stop")  # exception, BaseException (SystemExit), clean stop


def _fault(actor: Actor, message: object) -> None:
    if message == "crash":
        raise RuntimeError(f"{actor.name} crashed")
    if message == "exit":
        raise SystemExit(1)
    if message == "stop":
        actor.stop()


class Worker(Actor):
    def on_message(self, message: object) -> object:
        _fault(self, message)
        return None


class FaultySupervisor(Supervisor):
    """A supervisor that takes the same injected faults as a worker."""

    def on_message(self, message: object) -> object:
        if message in FAULTS:
            _fault(self, message)
            return None
        return super().on_message(message)


# -- the model ---------------------------------------------------------------------------


@dataclass
class Node:
    """One child spec, and the state of its current incarnation."""

    name: str
    restart: RestartPolicy
    strategy: RestartStrategy | None = None  # None: a worker
    max_restarts: int = 0
    specs: tuple[Node, ...] = ()  # a supervisor's child specs, as configured
    alive: bool = True
    incarnation: int = 0
    restart_count: int = 0  # as counted by its supervisor's current incarnation
    children: list[Node] = field(default_factory=list)  # current children (temporaries drop)
    restarts: int = 0  # restarts this supervisor incarnation made (intensity)

    @property
    def is_supervisor(self) -> bool:
        return self.strategy is not None


@dataclass
class Expected:
    restarted: int = 0  # ChildRestarted events
    escalated: int = 0  # SupervisorEscalated events


class Model:
    def __init__(self, root: Node) -> None:
        self.root = root
        self.expected = Expected()
        self.parents: dict[str, Node] = {}
        self._fresh(root)

    def _fresh(self, node: Node) -> None:
        """Start a new incarnation of ``node`` (its subtree starts afresh)."""
        node.alive = True
        node.incarnation += 1
        if node.is_supervisor:
            node.restarts = 0
            node.children = list(node.specs)
            for child in node.children:
                self.parents[child.name] = node
                child.restart_count = 0
                self._fresh(child)

    def _stop(self, node: Node) -> None:
        node.alive = False
        for child in node.children:
            self._stop(child)

    def exit(self, node: Node, *, abnormal: bool) -> None:
        """``node`` ended (by itself): its supervisor reacts as OTP's does."""
        self._stop(node)
        parent = self.parents.get(node.name)
        if parent is None:
            return  # the root: nobody restarts it
        if not node.restart.restarts(abnormal=abnormal):
            if node.restart is RestartPolicy.TEMPORARY:
                parent.children.remove(node)
            return
        parent.restarts += 1
        if parent.restarts > parent.max_restarts:
            self.expected.escalated += 1
            self.exit(parent, abnormal=True)
            return
        # OTP: one_for_one restarts the child, one_for_all every child, rest_for_one
        # the child and those started after it (written out here, not imported).
        index = parent.children.index(node)
        if parent.strategy is RestartStrategy.ONE_FOR_ONE:
            affected = [node]
        elif parent.strategy is RestartStrategy.ONE_FOR_ALL:
            affected = list(parent.children)
        else:
            affected = parent.children[index:]
        for child in affected:
            if child is not node and child.restart is RestartPolicy.TEMPORARY:
                self._stop(child)
                parent.children.remove(child)
                continue
            child.restart_count += 1
            self.expected.restarted += 1
            self._stop(child)
            self._fresh(child)

    def tree(self, node: Node) -> tuple[Any, ...]:
        return tuple(
            (c.name, c.alive, c.restart_count, self.tree(c) if c.alive else ())
            for c in node.children
        )

    def nodes(self) -> list[Node]:
        out: list[Node] = []

        def walk(n: Node) -> None:
            out.append(n)
            for c in n.children:
                walk(c)

        walk(self.root)
        return out


def _real_tree(infos: tuple[ChildInfo, ...]) -> tuple[Any, ...]:
    return tuple((i.id, i.alive, i.restart_count, _real_tree(i.children)) for i in infos)


# -- building random trees ----------------------------------------------------------------

policies = st.sampled_from(list(RestartPolicy))
strategies_ = st.sampled_from(list(RestartStrategy))


@st.composite
def trees(draw: st.DrawFn) -> Node:
    """A root supervisor, sub-supervisors (at most two levels) and workers."""
    counter = itertools.count()

    def node(level: int) -> Node:
        name = f"n{next(counter)}"
        is_sup = level == 0 or (level < 2 and draw(st.booleans()))
        restart = RestartPolicy.PERMANENT if level == 0 else draw(policies)
        if not is_sup:
            return Node(name, restart)
        n_children = draw(st.integers(1 if level == 0 else 0, 4))
        return Node(
            name,
            restart,
            strategy=draw(strategies_),
            max_restarts=draw(st.integers(0, 3)),
            specs=tuple(node(level + 1) for _ in range(n_children)),
        )

    return node(0)


def _spec(bus: EventBus, node: Node) -> ChildSpec:
    if not node.is_supervisor:
        return ChildSpec(
            id=node.name,
            start=lambda: Worker.start(name=node.name, bus=bus),
            restart=node.restart,
        )
    return ChildSpec(id=node.name, start=lambda: _start(bus, node), restart=node.restart)


def _start(bus: EventBus, node: Node) -> pykka.ActorRef[Any]:
    assert node.strategy is not None
    return FaultySupervisor.start(
        name=node.name,
        bus=bus,
        children=[_spec(bus, c) for c in node.specs],
        strategy=node.strategy,
        max_restarts=node.max_restarts,
        period=PERIOD,
    )


# -- the machine --------------------------------------------------------------------------


class SupervisionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.bus = EventBus(tracing=False)
        self.rec = EventRecorder(self.bus, Event)
        self.model: Model | None = None
        self.root_ref: pykka.ActorRef[Any] | None = None
        self.urns: dict[str, str] = {}

    def _counts(self, events: list[Event]) -> tuple[int, int]:
        restarted = sum(isinstance(e, ChildRestarted) for e in events)
        escalated = sum(isinstance(e, SupervisorEscalated) for e in events)
        return restarted, escalated

    @initialize(root=trees())
    def build(self, root: Node) -> None:
        self._build(root)

    def _build(self, root: Node) -> None:
        self.rec.close()
        self.rec = EventRecorder(self.bus, Event)
        self.model = Model(root)
        self.root_ref = _start(self.bus, root)
        self.urns = self._urns()

    def _urns(self) -> dict[str, str]:
        assert self.model is not None
        urns = {}
        for node in self.model.nodes():
            ref = self.bus.lookup(node.name)
            if ref is not None and ref.is_alive():
                urns[node.name] = ref.actor_urn
        return urns

    @rule(data=st.data(), fault=st.sampled_from(FAULTS))
    def inject(self, data: st.DataObject, fault: str) -> None:
        """Inject ``fault`` into a random live node; a dead tree is replaced by a new one."""
        assert self.model is not None
        alive = [n for n in self.model.nodes() if n.alive]
        # The root takes a fault only when nothing else lives: after it, the tree is gone.
        candidates = [n for n in alive if n is not self.model.root] or alive
        target = data.draw(st.sampled_from(candidates), label="target")
        ref = self.bus.lookup(target.name)
        assert ref is not None, f"{target.name} should be bound"
        before = {n.name: n.incarnation for n in self.model.nodes()}
        self.model.exit(target, abnormal=fault != "stop")
        ref.tell(fault)
        self._settle()
        # Exactly the model's restarts happened: a new incarnation bound to each name.
        urns = self._urns()
        for node in self.model.nodes():
            if node.alive:
                changed = urns.get(node.name) != self.urns.get(node.name)
                assert changed == (node.incarnation != before.get(node.name)), node.name
        self.urns = urns
        if not self.model.root.alive:
            self._build(data.draw(trees(), label="new tree"))

    def _settle(self) -> None:
        assert self.model is not None
        want = (self.model.expected.restarted, self.model.expected.escalated)
        assert self.rec.wait_for(lambda events: self._counts(events) >= want), (
            f"restarted/escalated events {self._counts(self.rec.events)}, expected {want}"
        )
        assert wait_until(self._alive_as_modelled), "alive actors differ from the model"
        if not self.model.root.alive:
            return
        expected = self.model.tree(self.model.root)
        got: tuple[Any, ...] = ()

        def matches() -> bool:
            nonlocal got
            assert self.root_ref is not None
            got = _real_tree(Supervisor.tree(self.root_ref))
            return got == expected

        assert wait_until(matches), f"tree {got} != model {expected}"

    @invariant()
    def events_match_the_model(self) -> None:
        if self.model is None:
            return
        got = self._counts(self.rec.events)
        assert got == (self.model.expected.restarted, self.model.expected.escalated)

    def _alive_as_modelled(self) -> bool:
        assert self.model is not None
        for node in self.model.nodes():
            ref = self.bus.lookup(node.name)
            if (ref is not None and ref.is_alive()) != node.alive:
                return False
        return True

    @invariant()
    def alive_actors_are_exactly_the_models(self) -> None:
        if self.model is not None:
            assert self._alive_as_modelled()

    def teardown(self) -> None:
        if self.root_ref is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                self.root_ref.stop(block=True, timeout=10)
        pykka.ActorRegistry.stop_all(block=True, timeout=10)
        self.bus.stop()


SupervisionMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestSupervisionTrees = SupervisionMachine.TestCase
