"""Fixtures of the command-line tests: processes stopped at the end, a plan file."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; any still running at its end are killed."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    """A diamond: ``a`` → ``b`` and ``c`` → ``d`` (``c`` optional for ``d``)."""
    path = tmp_path / "plan.json"
    plan = {
        "tasks": [
            {"id": "a", "agent": "left"},
            {"id": "b", "agent": "right", "depends_on": ["a"]},
            {"id": "c", "agent": "left", "depends_on": ["a"]},
            {"id": "d", "agent": "right", "depends_on": ["b", "c"], "optional": ["c"]},
        ]
    }
    path.write_text(json.dumps(plan))
    return path
