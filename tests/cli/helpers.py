"""Running ``python -m actors.cli`` from this tree in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEAM = "tests.cli.teams:team"


def cli_env(**extra: str) -> dict[str, str]:
    """This process's environment with this tree first on the path, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CLI_TEST_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def cli(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m actors.cli ARGS`` to its end (at most ``timeout`` s), output captured."""
    return subprocess.run(
        [sys.executable, "-m", "actors.cli", *args],
        cwd=ROOT,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def spawn(started: list[subprocess.Popen[str]], *args: str, **env: str) -> subprocess.Popen[str]:
    """Start ``python -m actors.cli ARGS`` (stopped by the ``started`` fixture)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "actors.cli", *args],
        cwd=ROOT,
        env=cli_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started.append(process)
    return process
