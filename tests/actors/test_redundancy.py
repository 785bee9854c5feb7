"""Redundancy: an attempt on k agents at once; the first result wins, or a vote decides."""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any, ClassVar, TypeVar

import pydantic
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import JsonValue

from actors import (
    Agent,
    Ballot,
    Delegate,
    HandoffTo,
    Limits,
    Plan,
    PlanValidationError,
    Redundancy,
    Supervisor,
    Task,
    TaskContext,
    TaskError,
    TaskResult,
    TaskStatus,
    Team,
    WorkflowError,
    WorkflowResult,
    majority,
    plurality,
    unanimous,
)
from actors.testing import EventRecorder, check_protocol
from bus import (
    CancelRequested,
    Event,
    EventBus,
    FailureKind,
    TaskFailed,
    TaskStarted,
    TokenUsage,
)
from memory import InMemoryEventLog
from tests.helpers import wait_until

E = TypeVar("E", bound=Event)
EFFECTS: collections.Counter[tuple[str, str]] = collections.Counter()


class Replica(Agent):
    """Answers ``answer`` after ``delay`` s (stopping when cancelled), or fails as told.

    Every attempt first runs the side effect ``charge`` through the idempotency store.
    """

    def __init__(
        self,
        *,
        name: str,
        bus: EventBus,
        answer: JsonValue = "ok",
        delay: float = 0.0,
        fail: str = "",
    ) -> None:
        super().__init__(name=name, bus=bus)
        self.answer, self.delay, self.fail = answer, delay, fail
        self.cancelled = threading.Event()

    def handle(self, task: TaskContext) -> object:
        def charge(_key: str) -> str:
            EFFECTS[(task.workflow_id, task.task_id)] += 1
            return '"charged"'

        task.run_once("charge", charge)
        if task.cancellation.wait(self.delay):
            self.cancelled.set()
            task.cancellation.raise_if_cancelled()
        if self.fail == "error":
            raise TaskError(f"{self.name} cannot", retryable=False)
        if self.fail == "retryable":
            raise TaskError(f"{self.name} cannot yet", retryable=True)
        if self.fail == "handoff":
            return HandoffTo("b", reason="not mine")
        return self.answer


def team_of(bus: EventBus, agents: dict[str, dict[str, Any]], **kwargs: Any) -> Team:
    specs = [
        Replica.child_spec(name, bus, capabilities=["work"], **options)
        for name, options in agents.items()
    ]
    return Team(specs, bus=bus, **kwargs)


@pytest.fixture
def bus() -> Iterator[EventBus]:
    bus = EventBus(tracing=False)
    yield bus
    bus.stop()


def run(team: Team, redundancy: Redundancy, **task: Any) -> WorkflowResult:
    plan = Plan(tasks=[Task(id="t", agent="work", redundancy=redundancy, **task)])
    return team.run(plan, timeout=10.0)


def only(result: WorkflowResult) -> TaskResult:
    (task,) = result.tasks
    return task


def of_type(events: Sequence[Event], kind: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


def test_the_first_result_wins_and_the_other_replicas_are_cancelled(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    agents: dict[str, dict[str, Any]] = {
        "slow": {"delay": 5.0, "answer": "late"},
        "fast": {"answer": "first"},
    }
    with team_of(bus, agents) as team:
        result = run(team, Redundancy(copies=2))
        # The loser was asked to stop, and did (before it started, or while it ran).
        assert rec.wait_for(lambda events: any(is_cancelled(e, "slow") for e in events))
    task = only(result)
    assert (task.status, task.result, task.agent, task.attempts) == (
        TaskStatus.COMPLETED,
        "first",
        "fast",
        1,
    )
    started = of_type(rec.events, TaskStarted)
    assert sorted((s.agent, s.replica) for s in started) == [("fast", 2), ("slow", 1)]
    assert len({s.attempt_token for s in started}) == 2
    cancels = of_type(rec.events, CancelRequested)
    assert [(c.agent, c.attempt_token) for c in cancels] == [
        (s.agent, s.attempt_token) for s in started if s.agent == "slow"
    ]
    check_protocol(rec.events)


def is_cancelled(event: Event, agent: str) -> bool:
    """Whether ``event`` is ``agent``'s report of an attempt it stopped when cancelled."""
    return (
        isinstance(event, TaskFailed)
        and event.agent == agent
        and event.error_type == "TaskCancelled"
    )


def came_back(events: list[Event], n: int) -> bool:
    """Whether ``n`` cancelled attempts came back (as ``TaskFailed``)."""
    return len(of_type(events, TaskFailed)) == n


def test_losing_a_race_is_not_a_failure_for_the_circuit_breaker(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    agents: dict[str, dict[str, Any]] = {"slow": {"delay": 5.0}, "fast": {}}
    with team_of(bus, agents) as team:
        for i in range(8):  # more than the breaker's threshold of failures
            run(team, Redundancy(copies=2))
            # the loser's cancelled attempt came back: it is free again
            assert rec.wait_for(partial(came_back, n=i + 1))
    starts = collections.Counter(s.agent for s in of_type(rec.events, TaskStarted))
    assert starts == {"slow": 8, "fast": 8}  # slow's circuit never opened
    check_protocol(rec.events)


def test_a_vote_takes_the_majority_and_runs_a_side_effect_once(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    agents: dict[str, dict[str, Any]] = {
        "a": {"answer": 41},
        "b": {"answer": 42, "delay": 0.05},
        "c": {"answer": 42},
    }
    with team_of(bus, agents) as team:
        result = run(team, Redundancy(copies=3, decide="vote"))
    task = only(result)
    assert (task.status, task.result, task.agent) == (TaskStatus.COMPLETED, 42, "b")
    assert EFFECTS[(result.workflow_id, "t")] == 1  # three replicas, one charge
    assert not of_type(rec.events, CancelRequested)  # a vote waits for every replica
    check_protocol(rec.events)


def test_a_vote_without_consensus_is_retried_then_fails(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    agents: dict[str, dict[str, Any]] = {"a": {"answer": 1}, "b": {"answer": 2}, "c": {"answer": 2}}
    with team_of(bus, agents) as team:
        result = run(team, Redundancy(copies=3, decide="vote", reducer="unanimous"), max_attempts=2)
    task = only(result)
    assert (task.status, task.error_kind, task.attempts) == (
        TaskStatus.FAILED,
        FailureKind.NO_CONSENSUS,
        2,
    )
    assert task.error == "NoConsensus: the 3 votes are not unanimous (2 different results)"
    assert len(of_type(rec.events, TaskStarted)) == 6
    check_protocol(rec.events)


def test_a_vote_counts_the_replicas_that_completed(bus: EventBus) -> None:
    agents: dict[str, dict[str, Any]] = {
        "a": {"fail": "error"},
        "b": {"answer": "x"},
        "c": {"answer": "x"},
    }
    with team_of(bus, agents) as team:
        result = run(team, Redundancy(copies=3, decide="vote"))
        assert only(result).result == "x"
        short = run(team, Redundancy(copies=3, decide="vote", quorum=3), max_attempts=1)
    task = only(short)
    assert (task.status, task.error_kind) == (TaskStatus.FAILED, FailureKind.NO_CONSENSUS)
    assert task.error == "NoConsensus: 2 of 3 replicas completed; the vote needs 3"


def test_at_the_timeout_a_vote_decides_with_the_replicas_that_answered(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    agents: dict[str, dict[str, Any]] = {
        "a": {"answer": "x"},
        "b": {"answer": "x"},
        "hung": {"delay": 30.0},
    }
    with team_of(bus, agents) as team:
        result = run(team, Redundancy(copies=3, decide="vote"), timeout=1.0)
    task = only(result)
    assert (task.status, task.result, task.attempts) == (TaskStatus.COMPLETED, "x", 1)
    cancels = of_type(rec.events, CancelRequested)
    assert [(c.agent, c.reason) for c in cancels] == [("hung", "timeout")]
    check_protocol(rec.events)


def test_when_every_replica_fails_the_attempt_fails_as_the_last_did(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    agents: dict[str, dict[str, Any]] = {
        "a": {"fail": "retryable"},
        "b": {"fail": "retryable", "delay": 0.05},
    }
    with team_of(bus, agents) as team:
        result = run(team, Redundancy(copies=2), max_attempts=2)
    task = only(result)
    assert (task.status, task.error_kind, task.attempts) == (
        TaskStatus.FAILED,
        FailureKind.ERROR,
        2,
    )
    assert task.error == "TaskError: b cannot yet"
    assert len(of_type(rec.events, TaskStarted)) == 4  # retried: both replicas again
    check_protocol(rec.events)


def test_a_replica_cannot_hand_off(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    agents: dict[str, dict[str, Any]] = {
        "a": {"fail": "handoff"},
        "b": {"delay": 0.1, "answer": "done"},
    }
    with team_of(bus, agents, handoffs={"a": ["b"]}) as team:
        result = run(team, Redundancy(copies=2))
        lone = run(team, Redundancy(copies=2, decide="vote", quorum=2), max_attempts=1)
    assert only(result).result == "done"  # the other replica's
    task = only(lone)
    assert (task.status, task.error_kind) == (TaskStatus.FAILED, FailureKind.NO_CONSENSUS)
    check_protocol(rec.events)


def test_replicas_go_to_distinct_agents_and_know_their_number(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    agents: dict[str, dict[str, Any]] = {f"agent{i}": {"answer": i} for i in range(4)}
    with team_of(bus, agents) as team:
        run(team, Redundancy(copies=3, decide="vote", reducer="plurality"))
        lone = team.run(
            Plan(tasks=[Task(id="t", agent="agent0", redundancy=Redundancy(copies=3))]),
            timeout=10.0,
        )
    started = of_type(rec.events, TaskStarted)
    first = [(s.agent, s.replica) for s in started[:3]]
    assert first == [("agent0", 1), ("agent1", 2), ("agent2", 3)]
    # A task naming an agent: it runs replica 1, agents sharing a capability the others.
    second = [(s.agent, s.replica) for s in started[3:]]
    assert second[0] == ("agent0", 1)
    assert len({agent for agent, _ in second}) == len(second) == 3
    assert only(lone).status is TaskStatus.COMPLETED


def test_a_vote_needing_more_agents_than_can_take_it_is_undeliverable(bus: EventBus) -> None:
    with team_of(bus, {"only": {}}) as team:
        result = run(team, Redundancy(copies=3, decide="vote"), max_attempts=2)
    task = only(result)
    assert (task.status, task.error_kind, task.attempts) == (
        TaskStatus.FAILED,
        FailureKind.UNDELIVERABLE,
        2,
    )
    assert task.error == "task undeliverable: its vote needs 2 agents and 'work' has 1"


def test_a_team_adds_reducers_and_refuses_unknown_ones(bus: EventBus) -> None:
    def median(ballots: Sequence[Ballot]) -> JsonValue:
        values = sorted(b.result for b in ballots if isinstance(b.result, int))
        return values[len(values) // 2]

    agents: dict[str, dict[str, Any]] = {"a": {"answer": 1}, "b": {"answer": 9}, "c": {"answer": 5}}
    with team_of(bus, agents, reducers={"median": median}) as team:
        result = run(team, Redundancy(copies=3, decide="vote", reducer="median"))
        assert (only(result).result, only(result).agent) == (5, "c")
        with pytest.raises(PlanValidationError, match="unknown reducer 'mean'"):
            run(team, Redundancy(copies=3, decide="vote", reducer="mean"))


def test_a_reducer_that_raises_fails_the_task_not_the_workflow(bus: EventBus) -> None:
    def broken(_ballots: Sequence[Ballot]) -> JsonValue:
        raise ZeroDivisionError

    agents: dict[str, dict[str, Any]] = {"a": {}, "b": {}}
    with team_of(bus, agents, reducers={"broken": broken}) as team:
        result = run(team, Redundancy(copies=2, decide="vote", reducer="broken"))
    task = only(result)
    assert (task.status, task.error_kind, task.attempts) == (
        TaskStatus.FAILED,
        FailureKind.ORCHESTRATOR,
        1,
    )
    assert task.error == "ReducerError: reducer 'broken' raised ZeroDivisionError: "


def test_each_replica_is_a_step(bus: EventBus) -> None:
    with team_of(bus, {"a": {}, "b": {}, "c": {}}, limits=Limits(max_steps=2)) as team:
        result = run(team, Redundancy(copies=3, decide="vote"))
    assert only(result).status is TaskStatus.CANCELLED
    assert "limit of 2 steps" in only(result).error


def test_redundancy_is_validated() -> None:
    with pytest.raises(pydantic.ValidationError, match="quorum 4 is above copies 3"):
        Redundancy(copies=3, decide="vote", quorum=4)
    with pytest.raises(pydantic.ValidationError, match="quorum is for decide='vote'"):
        Redundancy(copies=3, quorum=2)
    with pytest.raises(pydantic.ValidationError, match="reducer is for decide='vote'"):
        Redundancy(copies=3, reducer="unanimous")
    with pytest.raises(pydantic.ValidationError):
        Redundancy(copies=1)
    assert Redundancy(copies=4, decide="vote").needed == 3
    assert Redundancy(copies=4).needed == 1


def test_the_built_in_reducers() -> None:
    ballots = [
        Ballot("a", 1, {"x": 1, "y": 2}),
        Ballot("b", 2, {"y": 2, "x": 1}),
        Ballot("c", 3, 0),
    ]
    assert majority(ballots) == {"x": 1, "y": 2}  # equal as canonical JSON
    assert plurality([Ballot("a", 1, 1), Ballot("b", 2, 2)]) == 1  # a tie: the first
    with pytest.raises(TaskError, match="no result has a majority of the 2 votes"):
        majority([Ballot("a", 1, 1), Ballot("b", 2, 2)])
    with pytest.raises(TaskError, match="not unanimous"):
        unanimous(ballots)
    assert unanimous(ballots[:2]) == {"x": 1, "y": 2}


class Held(Agent):
    """Answers ``"x"``, holding task ``b`` until ``release`` is set; records its runs."""

    runs: ClassVar[list[tuple[str, int, int]]] = []
    release: ClassVar[threading.Event] = threading.Event()

    def handle(self, task: TaskContext) -> object:
        self.runs.append((task.task_id, task.attempt, task.replica))
        if task.task_id == "b" and not self.release.wait(10):
            raise RuntimeError("never released")
        return "x"


def test_a_resumed_workflow_runs_the_replicas_in_flight_again() -> None:
    log = InMemoryEventLog()
    vote = Redundancy(copies=2, decide="vote")
    plan = Plan(
        tasks=[
            Task(id="a", agent="work", redundancy=vote),
            Task(id="b", agent="work", redundancy=vote, depends_on=("a",)),
        ]
    )
    Held.runs, Held.release = [], threading.Event()
    bus = EventBus(event_log=log, tracing=False)
    specs = [Held.child_spec(name, bus, capabilities=["work"]) for name in ("p", "q")]
    team = Team(specs, bus=bus, name="first")
    future = team.submit(plan, workflow_id="wf")
    assert wait_until(lambda: len([r for r in Held.runs if r[0] == "b"]) == 2)
    Supervisor.terminate_child(team.supervisor, "orchestrator")  # as if its process died
    with pytest.raises(WorkflowError, match="stopped before workflow 'wf' finished"):
        future.get(timeout=5)
    Held.release.set()
    team.stop()

    Held.runs = []
    bus2 = EventBus(event_log=log, tracing=False)
    specs = [Held.child_spec(name, bus2, capabilities=["work"]) for name in ("p", "q")]
    with Team(specs, bus=bus2, name="second") as team2:
        result = team2.resume("wf").get(timeout=10)
    assert result.ok and result.answer == "x"
    assert sorted(Held.runs) == [("b", 1, 1), ("b", 1, 2)]  # "a" kept; "b" again, both
    check_protocol(log.events("wf"))


def test_the_decision_is_an_event_of_the_workflows_span(
    traced_bus: EventBus, spans: InMemorySpanExporter
) -> None:
    agents: dict[str, dict[str, Any]] = {"a": {"answer": 1}, "b": {"answer": 2}, "c": {"answer": 2}}
    with team_of(traced_bus, agents) as team:
        run(team, Redundancy(copies=3, decide="vote"))
    finished = spans.get_finished_spans()
    (workflow,) = [s for s in finished if s.name.startswith("invoke_workflow")]
    (decided,) = [e for e in workflow.events if e.name == "redundancy.decide"]
    assert dict(decided.attributes or {}) == {
        "actorchestra.task.id": "t",
        "actorchestra.task.attempt": 1,
        "actorchestra.redundancy.decide": "vote",
        "actorchestra.redundancy.replicas": 3,
        "actorchestra.redundancy.completed": 3,
        "actorchestra.redundancy.winner": "b",
    }
    agents_spans = [s for s in finished if s.name == "process task.started"]
    assert len(agents_spans) == 3
    assert {s.context.trace_id for s in agents_spans} == {workflow.context.trace_id}


def test_a_loser_still_queued_behind_other_work_never_runs(bus: EventBus) -> None:
    rec = EventRecorder(bus)
    gate = threading.Event()

    class Busy(Replica):
        def handle(self, task: TaskContext) -> object:
            if task.task_id == "busy":
                assert gate.wait(5.0)
            return super().handle(task)

    specs = [Busy.child_spec(n, bus, capabilities=["work"], answer=n) for n in ("a", "b")]
    with Team(specs, bus=bus, limits=Limits(max_in_flight=None)) as team:
        busy = team.submit(Plan(tasks=[Task(id="busy", agent="a")]))
        assert rec.wait_for(lambda events: len(of_type(events, TaskStarted)) == 1)
        raced = run(team, Redundancy(copies=2))  # "a" gets its replica behind "busy"
        gate.set()
        assert busy.get(timeout=5.0).ok
        assert rec.wait_for(lambda events: any(is_cancelled(e, "a") for e in events))
    assert (only(raced).agent, only(raced).result) == ("b", "b")
    # The queued replica ended cancelled without running: "a" charged only for "busy".
    assert EFFECTS[(raced.workflow_id, "t")] == 1
    check_protocol(rec.events)


def test_losers_tokens_count_while_the_workflow_runs(bus: EventBus) -> None:
    slow_started = threading.Event()

    class Spender(Replica):
        def handle(self, task: TaskContext) -> object:
            task.add_usage(TokenUsage(input_tokens=100, output_tokens=100), model="m")
            if task.task_id == "after":
                return "after"
            if self.name == "slow":
                slow_started.set()
            elif task.task_id == "t":
                assert slow_started.wait(5.0)  # the loser spends before it is cancelled
            return super().handle(task)

    specs = [
        Spender.child_spec("fast", bus, capabilities=["work"], answer="f"),
        Spender.child_spec("slow", bus, capabilities=["work"], delay=5.0),
    ]
    plan = Plan(
        tasks=[
            Task(id="t", agent="work", redundancy=Redundancy(copies=2)),
            # On the loser: it waits until the loser's cancelled attempt came back.
            Task(id="after", agent="slow", depends_on=("t",)),
        ]
    )
    with Team(specs, bus=bus) as team:
        result = team.run(plan, timeout=10.0)
    race = result.tasks[0]
    assert race.agent == "fast" and race.late_replies == 1
    assert race.usage.total_tokens == 400  # the winner's 200 and the cancelled loser's
    assert result.usage.total_tokens == 600


def test_when_every_replica_fails_the_error_and_agent_are_the_last_failures(
    bus: EventBus,
) -> None:
    agents: dict[str, dict[str, Any]] = {
        "a": {"fail": "error", "delay": 0.1},
        "b": {"fail": "error"},
        "c": {"fail": "error", "delay": 0.05},
    }
    with team_of(bus, agents) as team:
        task = only(run(team, Redundancy(copies=3)))
    assert (task.agent, task.error) == ("a", "TaskError: a cannot")


def test_a_reducer_returning_what_is_not_json_fails_the_task(bus: EventBus) -> None:
    def mean(ballots: Sequence[Ballot]) -> JsonValue:
        return float("nan")

    with team_of(bus, {"a": {}, "b": {}}, reducers={"mean": mean}) as team:
        task = only(run(team, Redundancy(copies=2, decide="vote", reducer="mean")))
    assert (task.status, task.error_kind) == (TaskStatus.FAILED, FailureKind.ORCHESTRATOR)
    assert task.error.startswith("ReducerError: reducer 'mean' raised NotJSONError: ")


def test_a_team_refuses_more_copies_than_its_limit(bus: EventBus) -> None:
    greedy = Plan(tasks=[Task(id="s", agent="work", redundancy=Redundancy(copies=3))])

    class Boss(Agent):  # a sub-plan (a model may have written it) is held to it too
        def handle(self, task: TaskContext) -> object:
            return Delegate(greedy)

    specs = [Replica.child_spec(n, bus, capabilities=["work"]) for n in "abc"]
    specs.append(Boss.child_spec("boss", bus))
    with Team(specs, bus=bus, limits=Limits(max_copies=2)) as team:
        with pytest.raises(PlanValidationError, match=r"asks for 3 copies; .* limit is 2"):
            team.run(greedy)
        boss = only(team.run(Plan(tasks=[Task(id="t", agent="boss")]), timeout=10.0))
    assert boss.status is TaskStatus.FAILED
    assert "Task 's' asks for 3 copies; the team's limit is 2 (Limits.max_copies)." in boss.error
