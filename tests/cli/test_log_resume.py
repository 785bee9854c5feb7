"""``actorchestra log``, ``resume``, ``approve`` and ``reject`` on a workflow whose process
was killed (SIGKILL) mid-way."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from memory import SQLiteEventLog
from tests.cli.helpers import TEAM, cli, spawn
from tests.helpers import wait_until


def _logged(db: Path, workflow_id: str, event_type: str, task_id: str) -> bool:
    if not db.exists():
        return False
    log = SQLiteEventLog(db)
    try:
        return any(e.type == event_type and e.task_id == task_id for e in log.events(workflow_id))
    finally:
        log.close()


def _kill_when(
    process: subprocess.Popen[str], db: Path, workflow_id: str, event_type: str, task_id: str
) -> None:
    assert wait_until(lambda: _logged(db, workflow_id, event_type, task_id), timeout=30)
    process.kill()
    process.wait(timeout=10)


def test_log_prints_the_timeline_of_a_resumed_workflow(
    tmp_path: Path, plan_file: Path, started: list[subprocess.Popen[str]]
) -> None:
    db = tmp_path / "events.db"
    run = spawn(
        started,
        *("run", str(plan_file), "--team", TEAM, "--db", str(db), "--workflow-id", "w1"),
        CLI_TEST_HOLD="b",  # b hangs: the process is killed while it runs
    )
    _kill_when(run, db, "w1", "task.finished", "c")

    listed = cli("log", str(db))
    assert listed.returncode == 0, listed.stderr
    assert re.search(
        r"^w1 +workflow +running +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", listed.stdout, re.M
    )

    resumed = cli("resume", str(db), "w1", "--team", TEAM)
    assert resumed.returncode == 0, resumed.stderr
    assert "workflow w1: completed" in resumed.stdout
    assert "answer: d(b(a),c(a))" in resumed.stdout

    timeline = cli("log", str(db), "w1")
    assert timeline.returncode == 0, timeline.stderr
    lines = timeline.stdout.splitlines()
    assert re.match(r"offset +event +task +attempt +agent +details$", lines[0])
    rows = [line.split()[:3] for line in lines[1:]]
    events = [r[1] for r in rows]
    assert events[0] == "workflow.started"
    assert events[-1] == "workflow.finished"
    resumed_at = events.index("workflow.resumed")
    before = [r[1:] for r in rows[:resumed_at]]
    after = [r[1:] for r in rows[resumed_at + 1 :]]
    assert ["task.finished", "a"] in before and ["task.finished", "c"] in before
    assert ["task.finished", "b"] not in before
    # a and c are not run again; b runs again, then d.
    started_after = [task for event, task in after if event == "task.started"]
    assert started_after == ["b", "d"]
    assert re.search(
        r"^\+\d+\.\d{3}s +workflow\.resumed +reused \['a', 'c'\], restarted \['b'\]$",
        timeline.stdout,
        re.M,
    )
    assert re.search(
        r"^\+\d+\.\d{3}s +task\.finished +d +1 +right +completed after 1 attempts, ",
        timeline.stdout,
        re.M,
    )
    listed = cli("log", str(db))
    assert re.search(r"^w1 +workflow +completed +\S+ \S+ +\d+\.\d\ds$", listed.stdout, re.M)


def _gated(tmp_path: Path) -> Path:
    path = tmp_path / "gated.json"
    plan = {
        "tasks": [
            {"id": "a", "agent": "left"},
            {"id": "pay", "agent": "right", "depends_on": ["a"], "needs_approval": True},
        ]
    }
    path.write_text(json.dumps(plan))
    return path


def test_approve_and_reject_decide_a_stopped_workflow_by_resuming_it(
    tmp_path: Path, started: list[subprocess.Popen[str]]
) -> None:
    db = tmp_path / "events.db"
    for workflow_id in ("approved", "rejected"):
        run = spawn(
            started,
            *("run", str(_gated(tmp_path)), "--team", TEAM, "--db", str(db)),
            *("--workflow-id", workflow_id),
        )
        _kill_when(run, db, workflow_id, "task.approval_requested", "pay")

    not_waiting = cli("approve", str(db), "approved", "a", "--team", TEAM)
    assert not_waiting.returncode == 2
    assert not_waiting.stderr == (
        "actorchestra: error: task 'a' of workflow 'approved' awaits no approval (task completed)\n"
    )

    approved = cli("approve", str(db), "approved", "pay", "--team", TEAM, "--by", "ann")
    assert approved.returncode == 0, approved.stderr
    assert "answer: pay(a)" in approved.stdout
    rejected = cli(
        "reject", str(db), "rejected", "pay", "--team", TEAM, "--by", "bob", "--reason", "no"
    )
    assert rejected.returncode == 1
    assert re.search(r"pay +failed .* rejected by bob: no$", rejected.stdout, re.M)

    timeline = cli("log", str(db), "approved").stdout
    assert re.search(r"task\.approval_decided +pay +1 +approved by ann$", timeline, re.M)
    timeline = cli("log", str(db), "rejected").stdout
    assert re.search(r"task\.approval_decided +pay +1 +rejected by bob: no$", timeline, re.M)
    again = cli("approve", str(db), "approved", "pay", "--team", TEAM)
    assert again.returncode == 2
    assert "awaits no approval (task completed)" in again.stderr


def test_log_of_an_unknown_workflow_names_the_fix(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    SQLiteEventLog(db).close()
    assert cli("log", str(db)).stdout == "no workflows\n"
    proc = cli("log", str(db), "nope")
    assert proc.returncode == 2
    assert proc.stderr == (
        f"actorchestra: error: {db}: no workflow 'nope' (`actorchestra log {db}` lists them)\n"
    )
