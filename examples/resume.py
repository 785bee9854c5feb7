"""Kill a workflow's process with SIGKILL midway, then resume it in a new process.

    python examples/resume.py [--kill-after SECONDS] [--dir DIR]

A 12-task ledger workflow runs in a child process, with the event log, the idempotency
store and the facts in one SQLite file. Each task appends one line to a ledger file (a
side effect, through ``TaskContext.run_once``) and computes a number from its
dependencies' numbers. The child is killed with SIGKILL after ``--kill-after`` seconds;
a second process resumes the workflow from the log. Tasks that had finished are not run
again, the ledger gets each line once, and the result is the uninterrupted run's.

``--child run|resume`` is the child process itself (the test suite drives it directly).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pydantic import JsonValue

from actors import Agent, Plan, RetryPolicy, Task, TaskContext, Team
from bus import EventBus, WorkflowResumed, WorkflowStarted
from memory import SQLiteEventLog, SQLiteIdempotencyStore

WORKFLOW_ID = "ledger-1"


def ledger_plan() -> Plan:
    """Twelve tasks in four layers; each depends on up to two tasks of the layer above."""
    tasks = []
    for i in range(12):
        above = [f"t{j}" for j in range(i - i % 3 - 3, i - i % 3) if j >= 0]
        depends_on = tuple(above[k] for k in {i % 3, (i + 1) % 3} if k < len(above))
        tasks.append(Task(id=f"t{i}", agent=("left", "right")[i % 2], depends_on=depends_on))
    return Plan(tasks=tuple(tasks))


class LedgerClerk(Agent):
    """Writes one ledger line per task (a side effect) and adds up its inputs."""

    def __init__(self, *, workdir: Path, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.workdir = workdir

    def handle(self, task: TaskContext) -> JsonValue:
        """Record the run, write the ledger line once, return the task's number."""
        with (self.workdir / "runs.log").open("a") as runs:
            runs.write(f"{os.getpid()} {task.task_id} {task.attempt}\n")
        time.sleep(0.04)

        def write_line(key: str) -> str:
            with (self.workdir / "calls.log").open("a") as calls:
                calls.write(f"{key}\n")
            ledger = self.workdir / "ledger.txt"
            # The ledger deduplicates by key, as a payment API does: it closes the one
            # window a store cannot (killed after the write, before its record).
            if not ledger.exists() or f"{key} " not in ledger.read_text():
                with ledger.open("a") as out:
                    out.write(f"{key} {task.task_id}\n")
            return json.dumps(task.task_id)

        task.run_once("ledger", write_line, {"task": task.task_id})
        own = int(task.task_id[1:])
        return own + sum(int(str(v)) for v in task.inputs.values())


def child(mode: str, directory: Path) -> None:
    """Run (``run``) or resume (``resume``) the workflow; print its result as JSON."""
    db = directory / "actorchestra.db"
    log = SQLiteEventLog(db)
    effects = SQLiteIdempotencyStore(db)
    bus = EventBus(event_log=log)
    specs = [
        LedgerClerk.child_spec(name, bus, idempotency=effects, workdir=directory)
        for name in ("left", "right")
    ]
    with Team(specs, bus=bus, retry=RetryPolicy(backoff=None)) as team:
        start = time.monotonic()
        if mode == "run":
            accepted = threading.Event()
            bus.subscribe(WorkflowStarted, lambda _event: accepted.set())
            future = team.submit(ledger_plan(), workflow_id=WORKFLOW_ID, name="ledger")
            if not accepted.wait(10):
                raise SystemExit("the orchestrator did not accept the workflow within 10 s")
            log.flush()  # its start is on disk: from here on it can be resumed
            print("submitted", flush=True)
        else:
            future = team.resume(WORKFLOW_ID)
        result = future.get(timeout=60)
        seconds = time.monotonic() - start
    log.close()
    tasks = {t.task_id: [t.status.value, t.result, t.attempts] for t in result.tasks}
    summary = {
        "pid": os.getpid(),
        "status": result.status.value,
        "answer": result.answer,
        "tasks": tasks,
        "in_doubt": effects.in_doubt,
        "seconds": seconds,
    }
    print(json.dumps(summary), flush=True)


def start_child(mode: str, directory: Path) -> subprocess.Popen[str]:
    """This script as a child process in ``mode``, its stdout piped."""
    return subprocess.Popen(
        [sys.executable, __file__, "--child", mode, "--dir", str(directory)],
        stdout=subprocess.PIPE,
        text=True,
    )


def main() -> None:
    """Run, kill, resume, and show what happened."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kill-after", type=float, default=0.2, help="seconds (default 0.2)")
    parser.add_argument("--dir", type=Path, help="working directory (default: a new temp dir)")
    parser.add_argument("--child", choices=("run", "resume"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    directory: Path = args.dir or Path(tempfile.mkdtemp(prefix="actorchestra-resume-"))
    if args.child:
        child(args.child, directory)
        return
    first = start_child("run", directory)
    assert first.stdout is not None
    first.stdout.readline()  # "submitted"
    time.sleep(args.kill_after)
    first.send_signal(signal.SIGKILL)
    first.wait()
    started = (directory / "runs.log").read_text().splitlines()
    print(f"killed pid {first.pid} with SIGKILL after {len(started)} task attempts started")
    second = start_child("resume", directory)
    out, _ = second.communicate(timeout=120)
    summary = json.loads(out.splitlines()[-1])
    log = SQLiteEventLog(directory / "actorchestra.db")
    resumed = [e for e in log.events(WORKFLOW_ID) if isinstance(e, WorkflowResumed)]
    log.close()
    if resumed:
        kept, again = resumed[0].reused, resumed[0].restarted
        print(
            f"resumed in pid {summary['pid']}: kept {len(kept)} finished tasks, ran again {again}"
        )
    else:
        print("the workflow had finished before the kill; resume returned its recorded result")
    ledger = (directory / "ledger.txt").read_text().splitlines()
    print(f"workflow {summary['status']}, answer {summary['answer']}")
    print(f"ledger: {len(ledger)} lines, {len(set(ledger))} distinct; files in {directory}")


if __name__ == "__main__":
    main()
