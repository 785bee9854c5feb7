"""Every failure carries its kind beside its message: results, records and metrics."""

from __future__ import annotations

import threading

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from actors import Agent, Limits, Plan, RetryPolicy, Task, TaskContext, TaskError, Team
from actors.testing import EventRecorder
from bus import EventBus, FailureKind, TaskFinished
from tests.helpers import counter_by

RELEASE = threading.Event()


class Mixed(Agent):
    def handle(self, task: TaskContext) -> object:
        if task.task_id == "reported":
            raise TaskError("the data is unusable", retryable=False)
        if task.task_id == "crashes":
            raise RuntimeError("boom")
        if task.task_id == "hangs":
            RELEASE.wait(5)
        return "ok"


def test_each_failure_has_its_kind_in_the_result_the_record_and_the_metric() -> None:
    RELEASE.clear()
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    bus = EventBus(tracing=False, meter_provider=provider)
    rec = EventRecorder(bus, TaskFinished)
    plan = Plan(
        tasks=(
            Task(id="fine", agent="a"),
            Task(id="reported", agent="a"),
            Task(id="crashes", agent="a", max_attempts=2),
            Task(id="hangs", agent="a", max_attempts=1, timeout=0.2),
            Task(id="after", agent="a", depends_on=("reported",)),
            Task(id="gated", agent="a", needs_approval=True),
        )
    )
    try:
        with Team(
            [Mixed.child_spec("a", bus)],
            bus=bus,
            max_restarts=10,
            retry=RetryPolicy(backoff=None),
            limits=Limits(max_in_flight=None),
        ) as team:
            future = team.submit(plan, workflow_id="wf")
            assert rec.wait_for(lambda e: any(x.task_id == "hangs" for x in e), timeout=10)
            RELEASE.set()  # the timed-out attempt may end now; its outcome is late
            assert rec.wait_for(lambda e: len(e) == 5, timeout=10)
            team.approve("wf", "gated", approved=False, by="cfo", reason="no")
            result = future.get(timeout=10)
    finally:
        RELEASE.set()
        provider.shutdown()
        bus.stop()
    kinds = {t.task_id: t.error_kind for t in result.tasks}
    assert kinds == {
        "fine": None,
        "reported": FailureKind.ERROR,
        "crashes": FailureKind.CRASH,
        "hangs": FailureKind.TIMEOUT,
        "after": FailureKind.CANCELLED,
        "gated": FailureKind.REJECTED,
    }
    recorded = {e.task_id: e.error_kind for e in rec.of_type(TaskFinished)}
    assert recorded == kinds
    # One failed attempt per kind that retries or fails; "crashes" failed twice.
    assert counter_by(reader, "actorchestra.tasks.failed", "error.type") == {
        "error": 1,
        "crash": 2,
        "timeout": 1,
    }
