"""The rows of the live view, fed the events of a race between two replicas."""

from __future__ import annotations

from actors.cli._progress import Progress
from bus import TaskFailed, TaskFinished, TaskStarted


def started(agent: str, replica: int) -> TaskStarted:
    return TaskStarted(workflow_id="w", task_id="t", attempt=1, agent=agent, replica=replica)


def failed(agent: str) -> TaskFailed:
    return TaskFailed(workflow_id="w", task_id="t", agent=agent, error_type="TaskCancelled")


def test_a_replica_failing_or_a_loser_answering_late_changes_no_status() -> None:
    progress = Progress([("t", "work")])
    for event in (started("a", 1), started("b", 2), failed("b")):
        progress.apply(event)
    assert progress.rows["t"].status == "running"  # "a" still runs
    progress.apply(TaskFinished(workflow_id="w", task_id="t", status="completed", attempts=1))
    progress.apply(failed("a"))  # a loser's late reply
    assert progress.rows["t"].status == "completed"
    progress.apply(started("c", 0))
    progress.apply(failed("c"))
    assert progress.rows["t"].status == "retrying"  # one dispatch, failed: a retry comes
