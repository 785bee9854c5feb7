"""Side-effecting tools run at most once per idempotency key, across retries and threads."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from actors import (
    Agent,
    ConfigurationError,
    LLMAgent,
    Plan,
    RetryPolicy,
    Task,
    TaskContext,
    TaskStatus,
    Team,
    Tool,
    idempotency_key,
    side_effect,
)
from actors._agents.idempotency_keys import canonical_json
from actors.testing import FakeLLMServer, Reply
from bus import EventBus, WorkflowFinished, WorkflowStarted
from memory import (
    IdempotencyStore,
    InMemoryIdempotencyStore,
    JetStreamIdempotencyStore,
    Retention,
    SideEffectBusyError,
    SQLiteEventLog,
    SQLiteIdempotencyStore,
)
from tests.helpers import running


@pytest.fixture(params=["in_memory", "sqlite", "jetstream"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> IdempotencyStore:
    if request.param == "in_memory":
        return InMemoryIdempotencyStore()
    if request.param == "jetstream":  # on a real nats-server (tests/conftest.py)
        return JetStreamIdempotencyStore(request.getfixturevalue("transports")())
    return SQLiteIdempotencyStore(tmp_path / "effects.db")


class Receipt(BaseModel):
    charged: int


def context(task_id: str = "t1", attempt: int = 1) -> TaskContext:
    return TaskContext("wf", task_id, attempt, "", {}, {})


def test_a_retried_attempt_gets_the_stored_result_instead_of_charging_again(
    bus: EventBus,
) -> None:
    charges: list[int] = []
    calls = {"n": 0}

    @side_effect
    def charge(amount: int) -> str:
        """Charge the customer."""
        charges.append(amount)
        return f"charged {amount} (charge #{len(charges)})"

    def responder(request: dict[str, Any]) -> Reply:
        calls["n"] += 1
        last = request["messages"][-1]
        if last["role"] != "tool":
            return Reply.calls(("charge", {"amount": 5}))
        # Attempt 1 answers with output that fails the schema (max_iterations=2 ends it
        # as a retryable failure); attempt 2 answers properly.
        return Reply.text("no idea") if calls["n"] <= 2 else Reply.json({"charged": 5})

    store = InMemoryIdempotencyStore()
    with FakeLLMServer(responder) as server:
        spec = LLMAgent.child_spec(
            "cashier",
            bus,
            client=server.client(),
            model="m",
            tools=[charge],
            output_type=Receipt,
            max_iterations=2,
            idempotency=store,
        )
        with Team([spec], bus=bus, retry=RetryPolicy(backoff=None)) as team:
            result = team.run(Plan(tasks=(Task(id="t1", agent="cashier"),)), timeout=20)
    [task] = result.tasks
    assert (task.status, task.attempts, task.result) == (TaskStatus.COMPLETED, 2, {"charged": 5})
    assert charges == [5]
    assert len(store) == 1


def test_concurrent_calls_with_one_key_run_once() -> None:
    ran: list[int] = []
    gate = threading.Event()

    def slow_effect() -> str:
        gate.wait(5)
        ran.append(1)
        return "done"

    store = InMemoryIdempotencyStore()
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(store.run_once("k", slow_effect, 5)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert ran == [1]
    assert results == ["done"] * 8


def test_a_failed_side_effect_is_not_stored_and_may_run_again(store: IdempotencyStore) -> None:

    def broken() -> str:
        raise OSError("payment gateway down")

    with pytest.raises(OSError, match="payment gateway down"):
        store.run_once("k", broken, 1)
    assert store.run_once("k", lambda: "ok", 1) == "ok"


def test_waiting_for_a_call_in_progress_is_bounded(store: IdempotencyStore) -> None:
    with (
        running(store, "k", "first"),
        pytest.raises(
            SideEffectBusyError,
            match=r"^Side effect 'k' is still running in another attempt after 0.05 s\.$",
        ),
    ):
        store.run_once("k", lambda: "second", 0.05)
    assert store.run_once("k", lambda: "second", 1) == "first"


def test_keys_differ_by_task_and_arguments_and_not_by_attempt(store: IdempotencyStore) -> None:
    runs: list[str] = []

    @side_effect
    def note(text: str) -> str:
        """Write a note."""
        runs.append(text)
        return text

    tool = Tool.from_function(note)
    assert tool.side_effects
    tool.invoke('{"text": "a"}', context("t1", 1), store)
    tool.invoke('{ "text" : "a" }', context("t1", 2), store)  # same call, retried
    tool.invoke('{"text": "b"}', context("t1", 2), store)
    tool.invoke('{"text": "a"}', context("t2", 1), store)
    assert runs == ["a", "b", "a"]
    with pytest.raises(
        ConfigurationError,
        match=r"^Tool 'note' has side effects; give it an IdempotencyStore\.$",
    ):
        tool.invoke('{"text": "c"}', context(), None)


def test_the_store_is_bounded() -> None:
    store = InMemoryIdempotencyStore(max_entries=10)
    for i in range(100):
        store.run_once(str(i), lambda: "x", 1)
    assert len(store) == 10


# -- keys are injective; the default store is per team -----------------------------------

# Separators, quotes, escapes, NUL and non-ASCII often (so near-collisions are tried),
# and any text at all; empty strings included.
_PARTS = st.text(
    alphabet=st.sampled_from(["/", ":", '"', "\\", "\x00", "a", "é", "\U0001f600"])
) | st.text(st.characters(codec="utf-8"))
_CALL = st.tuples(_PARTS, _PARTS, _PARTS, _PARTS)


@given(first=_CALL, second=_CALL)
def test_idempotency_keys_are_injective(
    first: tuple[str, str, str, str], second: tuple[str, str, str, str]
) -> None:
    assert (idempotency_key(*first) == idempotency_key(*second)) == (first == second)


@given(call=_CALL, data=st.data())
def test_calls_whose_ids_join_to_the_same_text_have_different_keys(
    call: tuple[str, str, str, str], data: st.DataObject
) -> None:
    # Split the joined workflow, task and tool at other separators: a different call
    # that a key made by joining the ids with that separator would confuse with this one.
    sep = data.draw(st.sampled_from(["/", ":", "\x00"]))
    joined = sep.join(call[:3])
    at = [i for i, c in enumerate(joined) if c == sep]
    i, j = sorted(data.draw(st.lists(st.sampled_from(at), min_size=2, max_size=2, unique=True)))
    other = (joined[:i], joined[i + 1 : j], joined[j + 1 :], call[3])
    assert (idempotency_key(*call) == idempotency_key(*other)) == (call == other)


def test_workflow_and_task_ids_holding_the_separator_do_not_share_side_effects(
    store: IdempotencyStore,
) -> None:
    paid: list[str] = []

    def pay(key: str) -> str:
        paid.append(key)
        return f'"receipt {len(paid)}"'

    first = TaskContext("w/1", "t", 1, "", {}, {}, idempotency=store)
    second = TaskContext("w", "1/t", 1, "", {}, {}, idempotency=store)
    assert first.run_once("pay", pay, {"amount": 5}) == '"receipt 1"'
    assert second.run_once("pay", pay, {"amount": 5}) == '"receipt 2"'
    assert len(set(paid)) == 2


def test_two_teams_reusing_a_workflow_id_do_not_share_side_effects() -> None:
    runs: list[str] = []

    class Payer(Agent):
        def handle(self, task: TaskContext) -> object:
            def pay(_key: str) -> str:
                runs.append(self.name)
                return json.dumps(len(runs))

            return json.loads(task.run_once("pay", pay))

    answers = []
    for _ in range(2):
        bus = EventBus(tracing=False)
        with Team([Payer.child_spec("payer", bus)], bus=bus) as team:
            plan = Plan(tasks=(Task(id="t1", agent="payer"),))
            answers.append(team.submit(plan, workflow_id="order-42").get(timeout=20).answer)
        bus.stop()
    assert runs == ["payer", "payer"]
    assert answers == [1, 2]


def test_retention_removes_the_side_effects_of_the_workflows_it_removes(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    store = SQLiteIdempotencyStore(path)
    log = SQLiteEventLog(path)
    bus = EventBus(tracing=False, event_log=log)
    try:
        for workflow_id in ("old/1", "new"):
            bus.publish(WorkflowStarted(workflow_id=workflow_id, plan={"tasks": []}))
            key = idempotency_key(workflow_id, "t", "pay", "{}")
            store.run_once(key, lambda: "done", 1, workflow_id=workflow_id)
            bus.publish(WorkflowFinished(workflow_id=workflow_id, status="completed", duration=0))
        log.retain(Retention(max_workflows=1))
        assert len(store) == 1
        assert store.forget("new") == 1
    finally:
        bus.stop()
        log.close()
        store.close()


def test_an_effect_recorded_by_the_previous_release_is_not_repeated(tmp_path: Path) -> None:
    # actorchestra 0.1.0 stored results under "workflow/task/tool/<digest>": a workflow
    # resumed across the upgrade finds them under that key and runs nothing again.
    store = SQLiteIdempotencyStore(tmp_path / "effects.db")
    arguments = canonical_json({"amount": 5})
    old_key = "wf-v0/t1/pay/" + hashlib.sha256(arguments.encode()).hexdigest()[:32]
    store.run_once(old_key, lambda: '"receipt from 0.1.0"', 1, workflow_id="wf-v0")
    paid: list[str] = []

    def pay(key: str) -> str:
        paid.append(key)
        return '"receipt"'

    task = TaskContext("wf-v0", "t1", 2, "", {}, {}, idempotency=store)
    assert task.run_once("pay", pay, {"amount": 5}) == '"receipt from 0.1.0"'
    assert paid == []
    store.close()
