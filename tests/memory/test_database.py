"""The memory file shared by processes: opening a new one together never fails."""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path
from typing import Any

from memory._database import connect


def open_when_told(path: str, barrier: Any) -> None:
    barrier.wait(10)
    try:
        connect(path).close()
    except Exception:
        sys.exit(1)


def test_processes_opening_a_new_memory_file_together_all_succeed(tmp_path: Path) -> None:
    # Two workers opening one new idempotency store at once: switching the new file to
    # WAL answered "database is locked" without waiting, about once in 40 rounds of 4.
    context = multiprocessing.get_context("fork")  # the children only open the file
    failed = 0
    for round_ in range(200):
        path = str(tmp_path / f"shared-{round_}.db")
        barrier = context.Barrier(4)
        processes = [context.Process(target=open_when_told, args=(path, barrier)) for _ in range(4)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(30)
        failed += sum(p.exitcode != 0 for p in processes)
    assert failed == 0
