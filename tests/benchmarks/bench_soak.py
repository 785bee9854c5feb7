"""Soak: 100,000 events through the bus into the SQLite event log; events/s, file size, RSS.

Workflows of 20 events each (started, 6 x task started/completed/finished, finished) are
published on a bus (tracing off, a no-op subscriber for the agent) whose event log is a
:class:`memory.SQLiteEventLog`. Peer, in the same run: the naive log, one ``INSERT`` and
one commit per event into the same kind of file. Then a retention policy keeps the
newest 100 workflows, to show the file stays bounded. Run:
``python -m tests.benchmarks.bench_soak`` (``--events N``; pin with ``taskset -c 0``).
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bus import (
    Event,
    EventBus,
    TaskCompleted,
    TaskFinished,
    TaskStarted,
    WorkflowFinished,
    WorkflowStarted,
)
from memory import Retention, SQLiteEventLog

from ._common import machine_note

TASKS = [f"t{i}" for i in range(1, 7)]
PLAN = {"tasks": [{"id": t, "agent": "analyst", "description": f"analyse {t}"} for t in TASKS]}


def workflow(n: int) -> Iterator[Event]:
    """The 20 events of one workflow, as the orchestrator and agents publish them."""
    wid = f"wf{n:08d}"
    yield WorkflowStarted(workflow_id=wid, name="soak", plan=PLAN, agents=["analyst"])
    for t in TASKS:
        yield TaskStarted(workflow_id=wid, task_id=t, agent="analyst", description=f"analyse {t}")
        result = {"summary": f"{t} looks fine", "score": n % 100}
        yield TaskCompleted(workflow_id=wid, task_id=t, agent="analyst", result=result)
        yield TaskFinished(
            workflow_id=wid, task_id=t, status="completed", attempts=1, result=result
        )
    yield WorkflowFinished(workflow_id=wid, status="completed", duration=0.01)


def rss_mib() -> float:
    """This process's resident set size now, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def size_mib(path: Path) -> float:
    """The database file plus its WAL, in MiB."""
    files = [path, path.with_name(path.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) / 2**20


def ours(path: Path, events: int) -> tuple[float, float]:
    """Events/s and RSS growth (MiB) publishing ``events`` events into the event log."""
    log = SQLiteEventLog(path)
    bus = EventBus(tracing=False, event_log=log)
    bus.subscribe(TaskStarted, lambda _event: None, recipient="analyst")  # no dead letters
    rss = rss_mib()
    t0 = time.perf_counter()
    for n in range(events // 20):
        for event in workflow(n):
            bus.publish(event)
    log.flush()
    elapsed = time.perf_counter() - t0
    grown = rss_mib() - rss
    assert len(log) == events // 20 * 20
    log.close()
    return events / elapsed, grown


def naive(path: Path, events: int) -> float:
    """Events/s for one INSERT and one commit per event (the same JSON, WAL, NORMAL)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, workflow_id TEXT, data TEXT)")
    db.execute("CREATE INDEX events_by_workflow ON events (workflow_id, seq)")
    t0 = time.perf_counter()
    for n in range(events // 20):
        for event in workflow(n):
            db.execute(
                "INSERT INTO events (workflow_id, data) VALUES (?, ?)",
                (event.workflow_id, event.model_dump_json()),
            )
    elapsed = time.perf_counter() - t0
    db.close()
    return events / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000, help="events to append")
    args = parser.parse_args()
    events: int = args.events
    print(f"soak: {events:,} events in workflows of 20; {machine_note()}")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "soak.db"
        rate, grown = ours(path, events)
        size = size_mib(path)
        peer = naive(Path(scratch) / "naive.db", events // 10)
        log = SQLiteEventLog(path)
        t0 = time.perf_counter()
        removed = log.retain(Retention(max_workflows=100))
        retain_s = time.perf_counter() - t0
        kept = len(log)
        log.close()
        after = size_mib(path)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  SQLiteEventLog via the bus      {rate:10,.0f} events/s")
    print(f"  naive, a commit per event       {peer:10,.0f} events/s  (on {events // 10:,})")
    print(f"  ratio ours/naive                {rate / peer:10.1f}x")
    print(
        f"  database file + WAL             {size:10.1f} MiB ({size * 2**20 / events:.0f} B/event)"
    )
    print(f"  RSS growth while appending      {grown:10.1f} MiB; peak RSS {peak:.0f} MiB")
    print(
        f"  retention to 100 workflows      removed {removed:,} events in {retain_s:.2f} s; "
        f"{kept:,} kept; file now {after:.2f} MiB"
    )


if __name__ == "__main__":
    main()
