"""examples/web_service.py under uvicorn, driven over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import clean_env

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def service() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "web_service.py"), "--port", str(port)],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/workflows/none", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "the service did not start in 30 s"
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_a_workflow_is_submitted_streamed_as_sse_approved_and_read(service: str) -> None:
    plan = json.loads((ROOT / "examples" / "data" / "publish_plan.json").read_text())
    with httpx.Client(base_url=service, timeout=10) as http:
        workflow_id = http.post("/workflows", json=plan).json()["workflow_id"]
        assert http.get(f"/workflows/{workflow_id}").status_code == 409  # still running
        seen: list[tuple[str, str]] = []
        with http.stream("GET", f"/workflows/{workflow_id}/events") as events:
            assert events.headers["content-type"].startswith("text/event-stream")
            kind = ""
            for line in events.iter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data = json.loads(line.removeprefix("data: "))
                    assert "attempt_token" not in data
                    seen.append((kind, data.get("task_id", "")))
                    if kind == "task.approval_requested":
                        approved = http.post(f"/workflows/{workflow_id}/tasks/publish/approve")
                        assert approved.json() == {"approved": True}
        assert seen == [
            ("task.started", "draft"),
            ("task.completed", "draft"),
            ("task.finished", "draft"),
            ("task.approval_requested", "publish"),
            ("task.approval_decided", "publish"),
            ("task.started", "publish"),
            ("task.completed", "publish"),
            ("task.finished", "publish"),
            ("workflow.finished", ""),
        ]
        result = http.get(f"/workflows/{workflow_id}").json()
        assert result["status"] == "completed"
        assert result["answer"] == "publish them: done [draft the release notes: done]"
        assert http.get("/workflows/nope").status_code == 404
