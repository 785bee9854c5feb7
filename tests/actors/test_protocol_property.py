"""No task lost: random DAGs, agent pools, fault schedules, cancellations and forged
outcomes, checked with check_protocol; nothing left running after each example."""

from __future__ import annotations

import collections
import random
import secrets
import threading
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from actors import (
    Backoff,
    Limits,
    LLMAgent,
    Plan,
    RetryPolicy,
    TaskContext,
    TaskStatus,
    Team,
    Tool,
    WorkflowResult,
    idempotency_key,
)
from actors.testing import (
    EventRecorder,
    FakeLLMServer,
    Faults,
    FaultyAgent,
    LLMFaults,
    Reply,
    check_protocol,
    plans,
)
from actors.testing.llm_faults import LLM_FAULTS
from bus import (
    CancelRequested,
    ChildCrashed,
    Delegated,
    Event,
    EventBus,
    EventRejected,
    Handoff,
    TaskCompleted,
    TaskFailed,
    TaskFinished,
    TaskStarted,
)
from memory import InMemoryIdempotencyStore
from tests.helpers import assert_threads_end, fault_schedules

TIMEOUT = 0.2  # seconds per attempt
BACKOFF = Backoff(minimum=0.001, maximum=0.01, jitter=0.5)


class Effects:
    """A side effect per task, run through an idempotency store; every run is logged."""

    def __init__(self) -> None:
        self.store = InMemoryIdempotencyStore()
        self.log: list[str] = []
        self.lock = threading.Lock()

    def work(self, task: TaskContext) -> object:
        key = idempotency_key(task.workflow_id, task.task_id, "effect", "{}")

        def effect() -> str:
            with self.lock:
                self.log.append(key)
            return "done"

        self.store.run_once(key, effect, 5.0)
        return {"task": task.task_id, "inputs": sorted(task.inputs)}

    @property
    def tool(self) -> Tool:
        """The same side effect as a tool of the LLM agent (idempotent through the store)."""

        def record(task: TaskContext) -> str:
            """Record that the task ran."""
            with self.lock:
                self.log.append(f"{task.workflow_id}/{task.task_id}/record")
            return "recorded"

        return Tool.from_function(record, side_effects=True)


class Forger:
    """A bus subscriber that answers for attempts it was never given (DESIGN invariant 4).

    On a seeded random share of ``TaskStarted`` events it publishes, before the agent
    is told, a forged ``TaskCompleted``, ``TaskFailed`` (not retryable), ``Handoff``
    (undeclared) or ``Delegated`` for that attempt, in the agent's name, with no token,
    a guessed one, another task's, or the attempt's own claiming the next attempt.
    Applied, each would end the task wrongly (or start a child workflow); the
    orchestrator must reject (and count) every one.
    """

    def __init__(self, bus: EventBus, probability: float, seed: int) -> None:
        self.bus = bus
        self.probability = probability
        self.rng = random.Random(seed)
        self.forged: list[Event] = []
        self.tokens: dict[str, str] = {}  # each task's last token (only TaskStarted's thread)
        bus.subscribe(TaskStarted, self.forge)

    def forge(self, started: TaskStarted) -> None:
        others = [token for task, token in self.tokens.items() if task != started.task_id]
        self.tokens[started.task_id] = started.attempt_token
        if self.rng.random() >= self.probability:
            return
        choices = [("", 0), (secrets.token_urlsafe(16), 0), (started.attempt_token, 1)]
        if others:
            choices.append((self.rng.choice(others), 0))
        token, later = self.rng.choice(choices)
        agent = started.agent
        envelope: dict[str, Any] = {
            "source": agent,
            "workflow_id": started.workflow_id,
            "task_id": started.task_id,
            "attempt": started.attempt + later,
            "attempt_token": token,
        }
        forged = self.rng.choice(
            [
                TaskCompleted(**envelope, agent=agent, result="forged"),
                TaskFailed(**envelope, agent=agent, error_type="Forged", retryable=False),
                Handoff(**envelope, from_agent=agent, to_agent=agent),
                Delegated(**envelope, agent=agent, plan={"tasks": [{"id": "x", "agent": agent}]}),
            ]
        )
        self.forged.append(forged)
        self.bus.publish(forged)


def llm_responder(request: dict[str, Any]) -> Reply:
    """The model behind the LLM agent: records once via its tool, then answers."""
    if request["messages"][-1]["role"] == "tool":
        return Reply.json({"done": True})
    return Reply.calls(("record", {}))


def run_plan(team: Team, plan: Plan, cancel_after: float | None, bound: float) -> WorkflowResult:
    """Run ``plan`` as workflow ``wf``; the caller cancels it ``cancel_after`` seconds in."""
    future = team.submit(plan, workflow_id="wf")
    if cancel_after is not None:
        canceller = threading.Timer(cancel_after, team.cancel, ("wf", "the caller left"))
        canceller.start()
        canceller.join()
    return future.get(timeout=bound)


Scenario = tuple[list[str], Plan, Faults, dict[str, float] | None, float | None, float]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    agents = [f"agent{i}" for i in range(draw(st.integers(1, 4)))]
    llm_faults: dict[str, float] | None = None
    if draw(st.booleans()):  # an LLM agent over the local server, with LLM faults
        agents.append("llm")
        kinds = draw(st.lists(st.sampled_from(LLM_FAULTS), unique=True, min_size=1, max_size=4))
        llm_faults = {k: draw(st.floats(0.02, 0.1)) for k in kinds}
    plan = draw(plans(agents, max_tasks=50, branches=draw(st.booleans())))
    faults = draw(fault_schedules())
    # The caller cancels the workflow this many seconds in, or never.
    cancel_after = draw(st.none() | st.floats(0.0, 0.3))
    forge = draw(st.floats(0.1, 0.5))  # the share of dispatches answered by a forger
    return agents, plan, faults, llm_faults, cancel_after, forge


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=scenarios())
def test_every_task_ends_exactly_once_whatever_the_faults(scenario: Scenario) -> None:
    agents, plan, faults, llm_faults, cancel_after, forge = scenario
    threads_before = threading.active_count()
    bus = EventBus(tracing=False)
    rec = EventRecorder(bus)
    forger = Forger(bus, forge, faults.seed)
    FaultyAgent.reset()
    effects = Effects()
    # Every wait is bounded: attempts x (timeout + backoff) per task, plus slack.
    bound = sum(t.max_attempts * (TIMEOUT + BACKOFF.maximum * 1.5) for t in plan.tasks) + 5.0
    specs = [FaultyAgent.spec(a, bus, effects.work, faults) for a in agents if a != "llm"]
    server = None
    if llm_faults is not None:
        responder = LLMFaults(
            llm_responder,
            probabilities=llm_faults,
            seed=faults.seed,
            retry_after=0.01,
            slow_seconds=0.3,  # a hung model call: past the attempt's timeout
        )
        server = FakeLLMServer(responder).start()
        specs.append(
            LLMAgent.child_spec(
                "llm",
                bus,
                client=server.client(max_retries=1, timeout=5.0),
                model="m",
                tools=[effects.tool],
                idempotency=effects.store,
                max_iterations=4,
            )
        )
    team = Team(
        specs,
        bus=bus,
        limits=Limits(task_timeout=TIMEOUT),
        retry=RetryPolicy(backoff=BACKOFF),
        max_restarts=10_000,  # crashes are injected on purpose: never escalate here
    )
    try:
        result = run_plan(team, plan, cancel_after, bound)
    finally:
        FaultyAgent.release_all()
        team.stop()
        bus.stop()
        if server is not None:
            server.stop()
    # Nothing left running: abandoned model calls and hung attempts ended too.
    assert_threads_end(threads_before)
    events = rec.events
    check_protocol(events)
    finished = {e.task_id: e for e in events if isinstance(e, TaskFinished)}
    assert set(finished) == {t.id for t in plan.tasks}
    for t in result.tasks:
        assert t.status.value == finished[t.task_id].status
        assert 1 <= t.attempts <= plan.tasks[int(t.task_id[1:])].max_attempts or (
            t.status in (TaskStatus.CANCELLED, TaskStatus.SKIPPED) and t.attempts == 0
        )
    starts = [e for e in events if isinstance(e, TaskStarted)]
    assert all(e.attempt <= plan.tasks[int(e.task_id[1:])].max_attempts for e in starts)
    if not any(faults.probabilities()) and llm_faults is None and cancel_after is None:
        assert result.ok
    # Partial results: the workflow completed exactly when every task completed or was
    # skipped, but for failures within the error budget that cancelled nothing.
    ended = collections.Counter(t.status for t in result.tasks)
    tolerated = ended[TaskStatus.FAILED] <= (plan.error_budget or 0)
    others = ended[TaskStatus.CANCELLED] + ended[TaskStatus.RUNNING] + ended[TaskStatus.PENDING]
    assert result.ok == (tolerated and not others), (result.status, ended, plan.error_budget)
    # Idempotency: no side effect ran twice for one key, whatever crashed or was retried.
    assert len(effects.log) == len(set(effects.log))
    # Identity: no genuine event rejected, none twice, every forgery rejected (when the
    # workflow is cancelled, or stopped by its error budget, one may arrive after it
    # ended: then nobody judges it).
    rejected = [e.causation_id for e in events if isinstance(e, EventRejected)]
    forged = [e.id for e in forger.forged]
    assert len(rejected) == len(set(rejected))
    assert set(rejected) <= set(forged)
    stopped = plan.error_budget is not None and ended[TaskStatus.FAILED] > plan.error_budget
    if cancel_after is None and not stopped:
        assert sorted(rejected) == sorted(forged)
    # What the schedules covered (shown by --hypothesis-show-statistics).
    event(f"tasks: {(len(plan.tasks) + 9) // 10 * 10} or fewer")
    if any(isinstance(e, ChildCrashed) for e in events):
        event("an agent crashed and was restarted")
    if any(e.error.startswith("timeout") for e in finished.values()) or any(
        t.late_replies for t in result.tasks
    ):
        event("an attempt timed out")
    event(f"workflow {result.status.value}")
    if ended[TaskStatus.SKIPPED]:
        event("a task was skipped")
    if any(e.missing for e in starts):
        event("a task ran without an optional dependency's result")
    if plan.error_budget is not None and ended[TaskStatus.FAILED] > plan.error_budget:
        event("a workflow ran out of its error budget")
    if any(isinstance(e, CancelRequested) for e in events):
        event("an attempt in flight was cancelled")
    if rejected:
        event("a forged outcome was rejected")
    if server is not None:
        event("an LLM agent took part")
        if any(f for _, f in responder.log):
            event("an LLM fault was injected")
