"""Kill a workflow's process with SIGKILL midway, then resume it in a new process.

    python examples/resume.py [--kill-after SECONDS] [--dir DIR] [--nats URL]

A 12-task ledger workflow runs in a child process, with the event log, the idempotency
store and the facts in one SQLite file — or, with ``--nats URL``, the event log in a
JetStream stream and the idempotency store in a JetStream key-value bucket, so the
resuming process could be on another host (``nats-server -js`` must run there). Each
task appends one line to a ledger file (a side effect, through ``TaskContext.run_once``)
and computes a number from its dependencies' numbers. The child is killed with SIGKILL
after ``--kill-after`` seconds; a second process resumes the workflow from the log.
Tasks that had finished are not run again, the ledger gets each line once, and the
result is the uninterrupted run's.

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
from bus import EventBus, NatsTransport, WorkflowResumed, WorkflowStarted
from memory import (
    EventLog,
    JetStreamEventLog,
    JetStreamIdempotencyStore,
    SQLiteEventLog,
    SQLiteIdempotencyStore,
)

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


class Storage:
    """The event log and idempotency store: in ``directory``, or in JetStream at ``nats``."""

    def __init__(self, directory: Path, nats: str | None, namespace: str) -> None:
        self.transport = None if nats is None else NatsTransport(nats, namespace=namespace)
        self.log: EventLog
        self.effects: SQLiteIdempotencyStore | JetStreamIdempotencyStore
        if self.transport is None:
            self.log = SQLiteEventLog(directory / "actorchestra.db")
            self.effects = SQLiteIdempotencyStore(directory / "actorchestra.db")
        else:
            self.log = JetStreamEventLog(self.transport)
            # A short lease: a resume waits at most 2 s for a dead process's claims.
            self.effects = JetStreamIdempotencyStore(self.transport, lease=2.0)

    def bus(self) -> EventBus:
        """A bus logging to the event log (over the transport, with NATS)."""
        if self.transport is None:
            return EventBus(event_log=self.log)
        return self.transport.bus(event_log=self.log)

    def close(self) -> None:
        """Close the log (then the transport)."""
        self.log.close()
        if self.transport is not None:
            self.transport.close()


def child(mode: str, directory: Path, nats: str | None = None, namespace: str = "ledger") -> None:
    """Run (``run``) or resume (``resume``) the workflow; print its result as JSON."""
    storage = Storage(directory, nats, namespace)
    log, effects, bus = storage.log, storage.effects, storage.bus()
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
    storage.close()
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


def start_child(
    mode: str, directory: Path, nats: str | None = None, namespace: str = "ledger"
) -> subprocess.Popen[str]:
    """This script as a child process in ``mode``, its stdout piped."""
    where = [] if nats is None else ["--nats", nats, "--namespace", namespace]
    return subprocess.Popen(
        [sys.executable, __file__, "--child", mode, "--dir", str(directory), *where],
        stdout=subprocess.PIPE,
        text=True,
    )


def main() -> None:
    """Run, kill, resume, and show what happened."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kill-after", type=float, default=0.2, help="seconds (default 0.2)")
    parser.add_argument("--dir", type=Path, help="working directory (default: a new temp dir)")
    parser.add_argument("--nats", help="NATS URL: the log and the effects in JetStream")
    parser.add_argument("--namespace", default="ledger", help="NATS namespace (default ledger)")
    parser.add_argument("--child", choices=("run", "resume"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    directory: Path = args.dir or Path(tempfile.mkdtemp(prefix="actorchestra-resume-"))
    if args.child:
        child(args.child, directory, args.nats, args.namespace)
        return
    first = start_child("run", directory, args.nats, args.namespace)
    assert first.stdout is not None
    first.stdout.readline()  # "submitted"
    time.sleep(args.kill_after)
    first.send_signal(signal.SIGKILL)
    first.wait()
    started = (directory / "runs.log").read_text().splitlines()
    print(f"killed pid {first.pid} with SIGKILL after {len(started)} task attempts started")
    second = start_child("resume", directory, args.nats, args.namespace)
    out, _ = second.communicate(timeout=120)
    summary = json.loads(out.splitlines()[-1])
    storage = Storage(directory, args.nats, args.namespace)
    resumed = [e for e in storage.log.events(WORKFLOW_ID) if isinstance(e, WorkflowResumed)]
    storage.close()
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
