"""A workflow whose process was killed resumes in a new process from JetStream alone.

Drives ``examples/resume.py --nats URL`` (its 12-task ledger DAG, each task writing one
ledger line through ``TaskContext.run_once``) with the event log in a JetStream stream
and the idempotency store in a JetStream key-value bucket: the first process is killed
with SIGKILL midway, the server is restarted (file storage), and a new process with a
new connection finishes the workflow.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from actors.testing.nats_server import NatsServer
from bus import NatsTransport
from memory import JetStreamEventLog
from tests.integration.test_resume import WORKFLOW_ID, check_resumed, child, run_and_kill, summary


@pytest.fixture(scope="module")
def uninterrupted(
    nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    nats = ("--nats", nats_server.url, "--namespace", f"u{uuid.uuid4().hex[:16]}")
    return summary(child("run", tmp_path_factory.mktemp("uninterrupted"), *nats))


@pytest.mark.parametrize("seed", range(2))
def test_a_workflow_killed_midway_resumes_from_jetstream_in_a_new_process(
    seed: int,
    tmp_path: Path,
    nats_server: NatsServer,
    nats_namespace: str,
    transports: Callable[..., NatsTransport],
    uninterrupted: dict[str, Any],
) -> None:
    nats = ("--nats", nats_server.url, "--namespace", nats_namespace)
    run_and_kill(tmp_path, seed, uninterrupted, *nats)
    nats_server.restart()  # what was stored is on disk: the server's death loses nothing
    resumed = summary(child("resume", tmp_path, *nats))
    log = JetStreamEventLog(transports())
    try:
        events = log.events(WORKFLOW_ID)
    finally:
        log.close()
    check_resumed(events, resumed, uninterrupted, tmp_path)
