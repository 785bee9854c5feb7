"""A workflow killed with SIGKILL at a random point resumes in a new process, losing nothing.

Drives ``examples/resume.py --child run|resume`` (a 12-task DAG whose tasks each write one
ledger line through ``TaskContext.run_once``), with the event log and the idempotency
store in one SQLite file.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from actors.testing import check_protocol
from bus import Event, TaskFinished, WorkflowResumed
from memory import SQLiteEventLog
from tests.helpers import ROOT, clean_env

EXAMPLE = ROOT / "examples" / "resume.py"
WORKFLOW_ID = "ledger-1"


def child(mode: str, directory: Path, *nats: str) -> subprocess.Popen[str]:
    """The example's child process (``nats``: ``--nats URL --namespace NAME``)."""
    return subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--child", mode, "--dir", str(directory), *nats],
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(),
        cwd=ROOT,
    )


def summary(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, out
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return summary(child("run", tmp_path_factory.mktemp("uninterrupted")))


@pytest.mark.parametrize("seed", range(5))
def test_a_workflow_killed_at_a_random_point_resumes_to_the_same_result(
    seed: int, tmp_path: Path, uninterrupted: dict[str, Any]
) -> None:
    run_and_kill(tmp_path, seed, uninterrupted)
    resumed = summary(child("resume", tmp_path))

    log = SQLiteEventLog(tmp_path / "actorchestra.db")
    try:
        events = log.events(WORKFLOW_ID)
    finally:
        log.close()
    check_resumed(events, resumed, uninterrupted, tmp_path)


def run_and_kill(directory: Path, seed: int, uninterrupted: dict[str, Any], *nats: str) -> None:
    """Run the workflow in a child; SIGKILL it somewhere in the first 80 % of the time
    the ``uninterrupted`` run took (a point drawn from ``seed``)."""
    delay = random.Random(seed).uniform(0.03, 0.8 * uninterrupted["seconds"])
    first = child("run", directory, *nats)
    assert first.stdout is not None
    assert first.stdout.readline().strip() == "submitted"
    time.sleep(delay)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    first.stdout.close()
    assert first.returncode == -signal.SIGKILL, "the run ended before it was killed"


def check_resumed(
    events: list[Event], resumed: dict[str, Any], uninterrupted: dict[str, Any], directory: Path
) -> None:
    """What a resume after a kill must give: the same result, nothing done twice."""
    # The result equals the uninterrupted run's, task by task.
    assert resumed["status"] == "completed"
    assert resumed["answer"] == uninterrupted["answer"]
    results = {tid: t[:2] for tid, t in resumed["tasks"].items()}
    assert results == {tid: t[:2] for tid, t in uninterrupted["tasks"].items()}

    # Every task ends exactly once, in order, within its bounds, across both processes.
    check_protocol(events)
    finished = Counter(e.task_id for e in events if isinstance(e, TaskFinished))
    assert finished == Counter({f"t{i}": 1 for i in range(12)})

    # Tasks that had completed before the kill were not run again.
    [marker] = [i for i, e in enumerate(events) if isinstance(e, WorkflowResumed)]
    done_before = {
        e.task_id
        for e in events[:marker]
        if isinstance(e, TaskFinished) and e.status == "completed"
    }
    runs = [line.split() for line in (directory / "runs.log").read_text().splitlines()]
    run_again = {task for pid, task, _ in runs if pid == str(resumed["pid"])}
    assert not done_before & run_again
    assert run_again, "the kill left nothing in flight"

    # Each side effect happened once per key; its function ran once per key, except
    # for a key the store found in doubt (killed between the effect and its record).
    ledger = (directory / "ledger.txt").read_text().splitlines()
    assert sorted(line.split()[1] for line in ledger) == sorted(f"t{i}" for i in range(12))
    calls = Counter((directory / "calls.log").read_text().splitlines())
    repeated = [key for key, n in calls.items() if n > 1]
    assert len(calls) == 12
    assert len(repeated) <= resumed["in_doubt"]
    assert max(calls.values()) <= 2
