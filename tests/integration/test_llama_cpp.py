"""The due-diligence example against llama.cpp's server: the local look-alike, and the real one."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from actors import Plan, TaskStatus, Team, WorkflowResult, WorkflowTimeout
from actors.testing import FakeLLMServer, Reply
from bus import EventBus
from tests.helpers import clean_env, run_example
from tests.integration.llama_server import LlamaServer, llama_server_binary
from tests.integration.test_due_diligence import AGENTS, load_example

TRACEBACK = "Traceback (most recent call last)"


def test_the_example_completes_against_a_llama_cpp_like_server() -> None:
    example = load_example()

    def responder(request: dict[str, Any]) -> Reply:
        # The scripted model reads which schema is asked for from the prompt now.
        found = re.search(r"JSON schema of (\w+)", request["messages"][0]["content"])
        if found and "response_format" in request:
            schema = {"type": "json_schema", "json_schema": {"name": found.group(1)}}
            request = {**request, "response_format": schema}
        reply: Reply = example.offline_responder(request)
        return reply

    with FakeLLMServer.llama_cpp_like(responder) as server:
        proc = run_example(env=clean_env(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="none"))
    assert proc.returncode == 0, proc.stderr
    assert TRACEBACK not in proc.stderr
    rows = re.findall(r"^(t\d)\s+(\w+)\s+(\w+)\s+(\d+)", proc.stdout, re.MULTILINE)
    assert rows == [(f"t{i + 1}", a, "completed", "1") for i, a in enumerate(AGENTS)]
    kinds = [(r.get("response_format") or {}).get("type") for r in server.requests]
    # Refused once (the planner's first call); every later call asks for json_object
    # (or for nothing: the agents without an output type).
    assert kinds[0] == "json_schema"
    assert set(kinds[1:]) == {"json_object", None}


@pytest.fixture(scope="module")
def llama_cpp_base_url() -> Iterator[str]:
    """``$LLAMA_CPP_BASE_URL``, else a ``llama-server`` of ours with the tiny random model."""
    if url := os.environ.get("LLAMA_CPP_BASE_URL"):
        yield url
        return
    binary = llama_server_binary()
    assert binary is not None  # tests/conftest.py skips the test otherwise
    with LlamaServer(binary) as server:
        yield server.base_url


@pytest.mark.llama_cpp
def test_the_example_against_a_real_llama_cpp_server(llama_cpp_base_url: str) -> None:
    """Whatever the model answers: every task ends completed or with a typed failure.

    Runs where ``llama-server`` is (``LLAMA_SERVER=/path/to/llama-server``, or on
    ``PATH``): the test starts it with a tiny random-weight model it writes
    (``tiny_gguf.py``). Or against a server already running, with
    ``LLAMA_CPP_BASE_URL=http://127.0.0.1:8080/v1`` (``llama-server -m MODEL.gguf
    --jinja``) and optionally ``LLAMA_CPP_MODEL``. ``tests/conftest.py`` skips it where
    there is neither.
    """
    model = os.environ.get("LLAMA_CPP_MODEL", "local")
    timeout = float(os.environ.get("LLAMA_CPP_TIMEOUT", "100"))
    env = clean_env(OPENAI_BASE_URL=llama_cpp_base_url, OPENAI_API_KEY="none")
    started = time.monotonic()
    proc = run_example("--model", model, "--timeout", f"{timeout:g}", env=env)
    assert time.monotonic() - started < timeout + 20  # within its timeout, with shutdown
    assert TRACEBACK not in proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), proc.stderr
    if proc.returncode == 1 and "planning failed" in proc.stderr:
        # A typed failure of planning: the error names its kind.
        assert re.search(r"error: planning failed: .+", proc.stderr)
        return
    rows = re.findall(r"^(t\d+)\s+(\w+)\s+(\w+)\s+(\d+)", proc.stdout, re.MULTILINE)
    assert rows, proc.stdout + proc.stderr
    assert {status for _, _, status, _ in rows} <= {"completed", "failed", "cancelled", "skipped"}
    for line in re.findall(r"^t\d+: (.+)$", proc.stdout, re.MULTILINE):
        # "ErrorType: message" for a failure; "cancelled: ..." or "skipped: ..." else.
        assert re.match(r"^(\w+Error|\w+Timeout|TaskCancelled|cancelled|skipped)\b", line), line


@pytest.mark.llama_cpp
@pytest.mark.parametrize("stream", [False, True])
def test_the_examples_agents_run_its_plan_against_a_real_llama_cpp_server(
    llama_cpp_base_url: str, bus: EventBus, stream: bool
) -> None:
    """The example's six agents run its plan (no planner): each task still ends typed.

    A random model does not plan (its plans are cut short, or name agents at random),
    so this shows the agents' side on the same server, streamed or not: tools offered,
    ``Finding`` asked for as JSON, every task completed, failed with its kind, or
    cancelled.
    """
    example = load_example()
    model = os.environ.get("LLAMA_CPP_MODEL", "local")
    timeout = float(os.environ.get("LLAMA_CPP_TIMEOUT", "100"))
    company = example.load_company(example.DEFAULT_INPUT)
    started = time.monotonic()
    with openai.OpenAI(base_url=llama_cpp_base_url, api_key="none", timeout=timeout) as client:
        agents = example.build_agents(bus, client, model, company, stream=stream)
        with Team(agents, bus=bus) as team:
            try:
                result: WorkflowResult | None = team.run(
                    Plan.model_validate(example.PLAN), timeout=timeout
                )
            except WorkflowTimeout as exc:  # a typed failure too, with what had ended
                result = exc.partial
    assert result is not None
    assert time.monotonic() - started < timeout + 20
    assert [t.task_id for t in result.tasks] == [f"t{i}" for i in range(1, 7)]
    for task in result.tasks:
        assert task.status in {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
        if task.status is TaskStatus.COMPLETED:
            assert task.result is not None
        else:
            assert task.error and task.error_kind is not None, task
