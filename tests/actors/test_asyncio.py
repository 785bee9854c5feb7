"""The asyncio API and event streams: never blocking the loop, cancelled with the task."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest

from actors import (
    Agent,
    Delegate,
    Plan,
    PlanValidationError,
    Task,
    TaskContext,
    TaskStatus,
    Team,
    WorkflowResult,
    WorkflowTimeout,
)
from actors.testing import EventRecorder, check_protocol
from bus import EventBus, TaskFinished, TaskStarted

TICK = 0.010  # seconds between ticks
LATE = 0.050  # a tick later than this means the loop was blocked


class Sleeper(Agent):
    """Blocks its own thread for the seconds its task's description says (cancellable)."""

    def handle(self, task: TaskContext) -> object:
        task.cancellation.wait(float(task.description or 0))
        task.cancellation.raise_if_cancelled()
        return task.task_id


def chain(seconds: float, n: int = 4) -> Plan:
    return Plan(
        tasks=tuple(
            Task(
                id=f"t{i}",
                agent="sleeper",
                description=str(seconds),
                depends_on=(f"t{i - 1}",) if i else (),
            )
            for i in range(n)
        )
    )


@pytest.fixture
def team(bus: EventBus) -> Iterator[Team]:
    with Team([Sleeper.child_spec("sleeper", bus)], bus=bus) as team:
        yield team


async def worst_tick_delay(work: Callable[[], Awaitable[object]]) -> tuple[object, float]:
    """Run ``work`` while a coroutine ticks every 10 ms; its result and the worst lateness."""
    worst = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        while not stop.is_set():
            before = time.monotonic()
            await asyncio.sleep(TICK)
            worst = max(worst, time.monotonic() - before - TICK)

    ticking = asyncio.create_task(ticker())
    try:
        result = await work()
    finally:
        stop.set()
        await ticking  # its last tick counts too
    return result, worst


def test_arun_never_blocks_the_event_loop(team: Team) -> None:
    result, worst = asyncio.run(worst_tick_delay(lambda: team.arun(chain(0.1), timeout=10)))
    assert isinstance(result, WorkflowResult) and result.ok
    assert worst < LATE, f"a tick was {worst * 1000:.0f} ms late"


def test_awaiting_a_pykka_future_blocks_the_loop_which_is_why_arun_exists(team: Team) -> None:
    # The defect the asyncio API fixes: pykka's __await__ yields once, then get() blocks.
    async def naive() -> object:
        return await team.submit(chain(0.1))

    result, worst = asyncio.run(worst_tick_delay(naive))
    assert isinstance(result, WorkflowResult) and result.ok
    assert worst > 0.3  # the loop stood still for most of the 0.4 s workflow


def test_async_for_over_a_stream_never_blocks_the_loop(bus: EventBus, team: Team) -> None:
    async def consume() -> list[str]:
        return [f"{e.type} {e.task_id}".strip() async for e in team.stream(chain(0.05, n=2))]

    seen, worst = asyncio.run(worst_tick_delay(consume))
    assert seen == [
        "task.started t0",
        "task.completed t0",
        "task.finished t0",
        "task.started t1",
        "task.completed t1",
        "task.finished t1",
        "workflow.finished",
    ]
    assert worst < LATE, f"a tick was {worst * 1000:.0f} ms late"


def test_cancelling_the_awaiting_task_cancels_the_workflow(bus: EventBus, team: Team) -> None:
    rec = EventRecorder(bus)

    async def main() -> None:
        running = asyncio.create_task(team.arun(chain(5.0), workflow_id="wf", timeout=30))
        while not rec.of_type(TaskStarted):
            await asyncio.sleep(0.005)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    started = time.monotonic()
    asyncio.run(main())
    ended = _wait_for_finished(rec, 4)
    assert time.monotonic() - started < 3  # the 5 s attempt was stopped, not waited for
    assert [e.status for e in ended] == ["cancelled"] * 4
    assert ended[0].error == "cancelled: the task awaiting it was cancelled"
    check_protocol(rec.events)


def test_cancelling_an_asubmit_future_or_a_streaming_task_cancels_the_workflow(
    bus: EventBus, team: Team
) -> None:
    rec = EventRecorder(bus)

    async def main() -> None:
        outcome = team.asubmit(chain(5.0), workflow_id="a")
        await asyncio.sleep(0.05)
        outcome.cancel()

        async def read() -> None:
            async for _ in team.stream(chain(5.0), workflow_id="b"):
                pass

        reading = asyncio.create_task(read())
        await asyncio.sleep(0.05)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading

    asyncio.run(main())
    ended = _wait_for_finished(rec, 8)
    reasons = {e.workflow_id: e.error for e in ended if e.task_id == "t0"}
    assert reasons == {
        "a": "cancelled: the task awaiting it was cancelled",
        "b": "cancelled: the task iterating its events was cancelled",
    }


def test_arun_past_its_timeout_cancels_and_reports_the_partial_result(team: Team) -> None:
    with pytest.raises(
        WorkflowTimeout, match=r"did not end within 0.2 s; it was cancelled"
    ) as info:
        asyncio.run(team.arun(chain(5.0), workflow_id="slow", timeout=0.2))
    partial = info.value.partial
    assert partial is not None and partial.status is TaskStatus.CANCELLED


def test_a_sync_stream_yields_the_events_then_holds_the_result(team: Team) -> None:
    events = team.stream(chain(0.0, n=2), workflow_id="s")
    types = [e.type for e in events]
    assert types.count("task.finished") == 2 and types[-1] == "workflow.finished"
    assert events.result.ok and events.result.workflow_id == "s"


def test_a_stream_past_its_timeout_cancels_the_workflow_and_ends(team: Team) -> None:
    events = team.stream(chain(5.0), timeout=0.2)
    finished = [e for e in events if isinstance(e, TaskFinished)]
    assert [e.status for e in finished] == ["cancelled"] * 4
    assert finished[0].error == "cancelled: Team.stream gave up after 0.2 s"
    assert events.result.status is TaskStatus.CANCELLED


def test_invalid_plans_are_refused_at_once_and_nothing_stays_subscribed(
    bus: EventBus, team: Team
) -> None:
    bad = Plan(tasks=(Task(id="a", agent="nobody"),))
    before = bus.has_subscribers(TaskFinished)
    with pytest.raises(PlanValidationError, match="names unknown agent 'nobody'"):
        team.stream(bad)
    assert bus.has_subscribers(TaskFinished) == before

    async def main() -> None:
        with pytest.raises(PlanValidationError):
            await team.arun(bad)

    asyncio.run(main())


def _wait_for_finished(rec: EventRecorder, n: int) -> list[TaskFinished]:
    deadline = time.monotonic() + 5
    while len(rec.of_type(TaskFinished)) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return rec.of_type(TaskFinished)


def test_a_result_is_handed_to_the_loop_from_the_orchestrators_thread(team: Team) -> None:
    threads: list[str] = []

    async def main() -> WorkflowResult:
        outcome = team.asubmit(chain(0.0, n=1))
        outcome.add_done_callback(lambda _: threads.append(threading.current_thread().name))
        return await outcome

    assert asyncio.run(main()).ok
    assert threads == [threading.main_thread().name]  # set on the loop, not elsewhere


def test_a_stream_carries_the_events_of_child_workflows(bus: EventBus) -> None:
    class Lead(Agent):
        def handle(self, task: TaskContext) -> object:
            if task.task_id == "root":
                return Delegate(Plan(tasks=(Task(id="part", agent="lead"),)))
            return "part done"

    with Team([Lead.child_spec("lead", bus)], bus=bus) as team:
        events = team.stream(Plan(tasks=(Task(id="root", agent="lead"),)), workflow_id="w")
        seen = [(e.workflow_id, e.type) for e in events]
        assert events.result.ok and events.result.answer == "part done"
    assert ("w", "task.delegated") in seen
    assert ("w/root.1", "task.completed") in seen and ("w/root.1", "workflow.finished") in seen
    assert seen[-1] == ("w", "workflow.finished")
