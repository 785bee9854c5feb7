"""Small actors and waits shared by tests."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hypothesis import strategies as st

from actors import Actor
from actors.testing import Faults
from bus import Event, EventBus
from memory import IdempotencyStore, SQLiteEventLog

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader


class Collector(Actor):
    """Records every event it receives; raises on events whose task_id is ``"crash"``."""

    def __init__(
        self,
        *,
        name: str,
        bus: EventBus,
        sink: list[Event],
        done: threading.Event | None = None,
        until: int = 0,
    ) -> None:
        super().__init__(name=name, bus=bus)
        self.sink = sink
        self.done = done
        self.until = until

    def on_event(self, event: Event) -> None:
        if event.task_id == "crash":
            raise RuntimeError("crash requested")
        self.sink.append(event)
        if self.done is not None and len(self.sink) >= self.until:
            self.done.set()


def counter_by(reader: InMemoryMetricReader, metric: str, attribute: str) -> dict[str, int]:
    """The sums a counter ``metric`` recorded, by the value of its ``attribute``."""
    data = reader.get_metrics_data()
    counts: dict[str, int] = {}
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for found in scope.metrics:
                if found.name == metric:
                    for point in found.data.data_points:
                        key = str((point.attributes or {})[attribute])
                        counts[key] = counts.get(key, 0) + int(getattr(point, "value", 0))
    return counts


@contextlib.contextmanager
def running(
    store: IdempotencyStore, key: str, result: str, timeout: float = 10.0
) -> Iterator[None]:
    """``store`` runs ``key``'s call in another thread while the block runs; it returns
    ``result`` once the block ends (waiting at most ``timeout`` seconds)."""
    started, release = threading.Event(), threading.Event()

    def call() -> str:
        started.set()
        release.wait(timeout)
        return result

    worker = threading.Thread(target=lambda: store.run_once(key, call, timeout))
    worker.start()
    try:
        assert started.wait(timeout)
        yield
    finally:
        release.set()
        worker.join(timeout)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` (every 1 ms) until true or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


ROOT = Path(__file__).resolve().parents[1]
DUE_DILIGENCE = ROOT / "examples" / "due_diligence.py"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without ``OPENAI_*``/``OTEL_*``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "OTEL_"))}
    env.update(extra)
    return env


def run_example(
    *args: str,
    example: Path = DUE_DILIGENCE,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run an example script in a subprocess (at most 120 s), offline unless ``env`` says.

    It runs in ``cwd``, or in a new empty directory (so files it writes by default,
    such as ``actorchestra.db``, start fresh and do not land in the checkout).
    """
    with tempfile.TemporaryDirectory() as scratch:
        return subprocess.run(
            [sys.executable, str(example), *args],
            env=clean_env() if env is None else env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=cwd or scratch,
        )


V0_LOG = ROOT / "tests" / "memory" / "fixtures" / "event_log_v0.json"
"""An event log written by actorchestra 0.1.0 (event schema version 0): workflow
``wf-v0`` (tasks t1 -> t2 on agent ``a``) cut short with t1 completed and t2 in flight."""


def seed_event_log(path: Path, rows: Sequence[tuple[str, list[object]]] = ()) -> None:
    """Create the event log file ``path`` holding the v0 fixture, then ``rows``.

    Each row is ``(workflow id, entries)``, an entry being what the log stores per
    event: ``[event fields, traceparent, tracestate]`` (version 0) or that plus the
    schema version.
    """
    SQLiteEventLog(path).close()  # the file, with this release's tables
    fixture = json.loads(V0_LOG.read_text())
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO events (workflow_id, time, count, data) VALUES (?, ?, ?, ?)",
            [tuple(r) for r in fixture["events"]],
        )
        db.executemany("INSERT INTO workflows VALUES (?, ?, ?, ?, ?)", fixture["workflows"])
        db.executemany(
            "INSERT INTO events (workflow_id, time, count, data) VALUES (?, 0, ?, ?)",
            [(wid, len(entries), json.dumps(entries)) for wid, entries in rows],
        )
    db.close()


def fault_schedules(scale: float = 1.0) -> st.SearchStrategy[Faults]:
    """Seeded schedules of agent faults (raise, crash, hang, slow, wrong output, crash
    after the work, stuck), each up to ``scale`` times the protocol test's rates."""
    p = st.floats(0, 0.12 * scale)
    return st.builds(
        Faults,
        raise_=p,
        crash=p,
        hang=st.floats(0, 0.05 * scale),
        slow=p,
        wrong_output=st.floats(0, 0.05 * scale),
        crash_after=p,
        stuck=st.floats(0, 0.01 * scale),
        hang_seconds=st.just(0.5),
        slow_seconds=st.just(0.005),
        seed=st.integers(0, 2**32),
    )


def assert_threads_end(before: int, timeout: float = 10.0) -> None:
    """Wait (at most ``timeout`` s) until the process runs ``before`` threads again, or fail.

    What a test started (abandoned model calls, hung attempts, timers) must have ended.
    """
    deadline = time.monotonic() + timeout
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before, threading.enumerate()
