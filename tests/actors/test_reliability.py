"""Bounded orchestration: timeouts, retry backoff, late replies, cancellation, step limits."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from actors import (
    Agent,
    Backoff,
    Limits,
    Plan,
    RetryPolicy,
    Task,
    TaskContext,
    TaskError,
    TaskStatus,
    Team,
)
from actors._timers import Scheduler
from actors.testing import EventRecorder
from bus import CancelRequested, Event, EventBus, TaskCompleted, TaskStarted
from tests.helpers import wait_until


class Hangs(Agent):
    """Hangs on its first attempt (until released), answers at once afterwards."""

    release = threading.Event()

    def handle(self, task: TaskContext) -> object:
        if task.attempt == 1:
            Hangs.release.wait(10)
            return "late"
        return f"attempt {task.attempt}"


class Flaky(Agent):
    """Fails retryably on attempts 1 and 2."""

    def handle(self, task: TaskContext) -> object:
        if task.attempt < 3:
            raise TaskError("endpoint hiccup", retryable=True)
        return "ok"


class Blocks(Agent):
    gate = threading.Event()

    def handle(self, task: TaskContext) -> object:
        Blocks.gate.wait(10)
        return "done"


def test_a_hung_attempt_times_out_is_retried_and_its_late_reply_is_counted(
    bus: EventBus,
) -> None:
    Hangs.release.clear()
    rec = EventRecorder(bus)
    team = Team([Hangs.child_spec("slow", bus)], bus=bus, retry=RetryPolicy(backoff=None))
    with team:
        plan = Plan(tasks=(Task(id="t", agent="slow", timeout=0.2, max_attempts=2),))
        future = team.submit(plan)
        # Attempt 1 times out: the agent is asked to cancel it, and attempt 2 is not
        # queued behind it while it still runs (this agent ignores cancellation) ...
        assert rec.wait_for(lambda ev: any(isinstance(e, CancelRequested) for e in ev))
        assert not rec.wait_for(lambda ev: len(_of(ev, TaskStarted)) == 2, timeout=0.5)
        # ... but sent when attempt 1's late reply shows the agent is free again.
        Hangs.release.set()
        result = future.get(timeout=10)
    [cancel] = rec.of_type(CancelRequested)
    assert (cancel.agent, cancel.attempt, cancel.reason) == ("slow", 1, "timeout")
    kinds = [type(e) for e in rec.events if isinstance(e, TaskStarted | TaskCompleted)]
    assert kinds == [TaskStarted, TaskCompleted, TaskStarted, TaskCompleted]
    [t] = result.tasks
    assert (t.status, t.attempts, t.result) == (TaskStatus.COMPLETED, 2, "attempt 2")
    assert t.late_replies == 1


def test_the_last_attempt_timing_out_fails_the_task_with_the_cause(bus: EventBus) -> None:
    Hangs.release.clear()
    try:
        with Team([Hangs.child_spec("slow", bus)], bus=bus) as team:
            plan = Plan(tasks=(Task(id="t", agent="slow", timeout=0.1, max_attempts=1),))
            result = team.run(plan, timeout=10)
            Hangs.release.set()  # before the team stops, so the agent stops at once
    finally:
        Hangs.release.set()
    [t] = result.tasks
    assert t.status is TaskStatus.FAILED
    assert t.error == "timeout: attempt 1 gave no outcome within 0.1 s"


def test_retries_wait_for_the_backoff(bus: EventBus) -> None:
    rec = EventRecorder(bus, TaskStarted)
    backoff = Backoff(minimum=0.05, maximum=1.0, jitter=0.0)
    with Team(
        [Flaky.child_spec("flaky", bus)], bus=bus, retry=RetryPolicy(backoff=backoff)
    ) as team:
        result = team.run(Plan(tasks=(Task(id="t", agent="flaky"),)), timeout=10)
    assert result.ok and result.tasks[0].attempts == 3
    starts = [e.time for e in rec.of_type(TaskStarted)]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1, gaps  # 0.05 s, then 0.1 s


def test_a_task_that_completes_after_failed_attempts_reports_no_error(bus: EventBus) -> None:
    # Its result said the last failed attempt's error (its TaskFinished event did not).
    with Team([Flaky.child_spec("flaky", bus)], bus=bus, retry=RetryPolicy(backoff=None)) as team:
        task = team.run(Plan(tasks=(Task(id="t", agent="flaky"),)), timeout=10).tasks[0]
    assert (task.status, task.attempts) == (TaskStatus.COMPLETED, 3)
    assert (task.error, task.error_kind, task.result) == ("", None, "ok")


def test_cancel_ends_every_unfinished_task_as_cancelled(bus: EventBus) -> None:
    Blocks.gate.clear()
    rec = EventRecorder(bus, TaskStarted)
    try:
        with Team([Blocks.child_spec("b", bus)], bus=bus) as team:
            plan = Plan(
                tasks=(Task(id="t1", agent="b"), Task(id="t2", agent="b", depends_on=("t1",)))
            )
            future = team.submit(plan, workflow_id="wf-1")
            assert rec.wait_for(lambda ev: len(ev) == 1)
            team.cancel("wf-1", "user pressed stop")
            result = future.get(timeout=10)
            Blocks.gate.set()
    finally:
        Blocks.gate.set()
    assert result.status is TaskStatus.CANCELLED
    assert [(t.task_id, t.status) for t in result.tasks] == [
        ("t1", TaskStatus.CANCELLED),
        ("t2", TaskStatus.CANCELLED),
    ]
    assert all(t.error == "cancelled: user pressed stop" for t in result.tasks)


def test_the_step_limit_cancels_what_is_left(bus: EventBus) -> None:
    with Team(
        [Flaky.child_spec("flaky", bus)],
        bus=bus,
        retry=RetryPolicy(backoff=None),
        limits=Limits(max_steps=2),
    ) as team:
        result = team.run(Plan(tasks=(Task(id="t", agent="flaky"),)), timeout=10)
    [t] = result.tasks
    assert (t.status, t.attempts) == (TaskStatus.CANCELLED, 3)
    assert t.error == "cancelled: the workflow reached its limit of 2 steps"


def test_the_scheduler_runs_timers_in_deadline_order_and_skips_cancelled_ones() -> None:
    scheduler = Scheduler("test-timers")
    ran: list[str] = []
    done = threading.Event()
    t0 = time.monotonic()

    def last() -> None:
        ran.append("c")
        done.set()

    scheduler.call_later(0.06, last)
    scheduler.call_later(0.02, lambda: ran.append("a"))
    scheduler.call_later(0.04, lambda: ran.append("skipped")).cancel()
    scheduler.call_later(0.03, lambda: ran.append("b"))
    assert done.wait(5)
    assert time.monotonic() - t0 >= 0.06
    assert ran == ["a", "b", "c"]
    scheduler.stop()
    with pytest.raises(
        RuntimeError, match=r"^Scheduler 'test-timers' is stopped; it runs no more timers\.$"
    ):
        scheduler.call_later(0, lambda: None)


def test_cancelled_timers_do_not_pile_up() -> None:
    scheduler = Scheduler("test-timers")
    try:
        for _ in range(5000):
            scheduler.call_later(600, lambda: None).cancel()
        assert scheduler.pending() < 2100
    finally:
        scheduler.stop()


def test_the_timer_thread_ends_when_no_timer_is_pending_and_starts_again() -> None:
    scheduler = Scheduler("idle-timers")

    def threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "idle-timers"]

    ran = threading.Event()
    scheduler.call_later(0.01, ran.set)
    assert ran.wait(5)
    assert wait_until(lambda: not threads())  # the one timer ran
    pending = scheduler.call_later(600, ran.clear)
    assert len(threads()) == 1
    pending.cancel()
    assert wait_until(lambda: not threads())  # the one timer was cancelled
    assert ran.is_set()
    again = threading.Event()
    scheduler.call_later(0, again.set)
    assert again.wait(5)


class Slow(Agent):
    """Takes 50 ms per task."""

    def handle(self, task: TaskContext) -> object:
        time.sleep(0.05)
        return task.task_id


def test_ready_tasks_wait_in_the_orchestrator_and_their_timeout_starts_when_sent() -> None:
    # 12 independent tasks of 50 ms on one agent, each allowed 0.3 s: sent all at once,
    # the last ones would wait ~0.6 s in the agent's mailbox and time out.
    tasks = [Task(id=f"t{i:02d}", agent="slow", timeout=0.3, max_attempts=1) for i in range(10)]
    # Two urgent tasks become ready when t00 completes, behind eight waiting ones.
    for name, priority in (("urgent1", 5), ("urgent2", 9)):
        tasks.append(Task(id=name, agent="slow", priority=priority, depends_on=("t00",)))
    bus = EventBus(tracing=False)
    recorder = EventRecorder(bus)
    with Team([Slow.child_spec("slow", bus)], bus=bus, limits=Limits(max_in_flight=2)) as team:
        result = team.run(Plan(tasks=tuple(tasks)), timeout=20)
    assert result.ok, [t.error for t in result.tasks if t.error]
    events = recorder.events
    started = [e.task_id for e in events if isinstance(e, TaskStarted)]
    # Both urgent tasks go before every task left waiting, the more urgent first.
    assert started[:2] == ["t00", "t01"]
    assert started[2:4] == ["urgent2", "urgent1"]
    in_flight = peak = 0
    for e in events:
        if isinstance(e, TaskStarted):
            in_flight += 1
        elif isinstance(e, TaskCompleted):
            in_flight -= 1
        peak = max(peak, in_flight)
    assert peak == 2


def _of(events: list[Event], kind: type[Event]) -> list[Event]:
    return [e for e in events if isinstance(e, kind)]
