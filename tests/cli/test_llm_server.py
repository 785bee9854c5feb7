"""``actorchestra llm-server``: a script served to a plain ``openai`` client in another process."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.cli.helpers import cli, spawn


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "replies.json"
    replies = [
        "hello",
        {"content": "second", "cached_tokens": 0},
        {"tool_calls": [["lookup", {"q": "northwind"}]]},
    ]
    path.write_text(json.dumps(replies))
    return path


@pytest.fixture
def client() -> Iterator[list[openai.OpenAI]]:
    clients: list[openai.OpenAI] = []
    yield clients
    for c in clients:
        c.close()


def _serve(
    started: list[subprocess.Popen[str]], clients: list[openai.OpenAI], *args: str
) -> tuple[subprocess.Popen[str], openai.OpenAI]:
    server = spawn(started, "llm-server", *args, "--lifetime", "60")
    assert server.stdout is not None
    url = server.stdout.readline().strip()  # the first line, once it accepts connections
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1"), url
    c = openai.OpenAI(base_url=url, api_key="offline", max_retries=0, timeout=10)
    clients.append(c)
    return server, c


def _ask(c: openai.OpenAI) -> openai.types.chat.ChatCompletion:
    return c.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])


def test_it_serves_the_script_and_stops_on_sigterm(
    script: Path, started: list[subprocess.Popen[str]], client: list[openai.OpenAI]
) -> None:
    server, c = _serve(started, client, str(script), "--model", "tiny")
    first = _ask(c)
    assert first.choices[0].message.content == "hello"
    assert first.model == "m"  # as asked; "tiny" when a request names none
    assert _ask(c).choices[0].message.content == "second"
    calls = _ask(c).choices[0].message.tool_calls
    assert calls is not None
    assert [(t.function.name, json.loads(t.function.arguments)) for t in calls] == [  # type: ignore[union-attr, unused-ignore]  # a union in newer openai
        ("lookup", {"q": "northwind"})
    ]
    with pytest.raises(openai.InternalServerError):
        _ask(c)  # the script is exhausted
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=10) == 0


def test_faults_come_first_then_the_script(
    script: Path, started: list[subprocess.Popen[str]], client: list[openai.OpenAI]
) -> None:
    server, c = _serve(
        started, client, str(script), "--cycle", "--faults", "rate_limit,none,server_error"
    )
    with pytest.raises(openai.RateLimitError):
        _ask(c)
    assert _ask(c).choices[0].message.content == "hello"
    with pytest.raises(openai.InternalServerError):
        _ask(c)
    assert _ask(c).choices[0].message.content == "second"
    server.send_signal(signal.SIGINT)
    assert server.wait(timeout=10) == 0


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{}", "expected a non-empty JSON list of replies"),
        ("[1]", "reply 0 is int, not a string or an object"),
        ('[{"colour": "red"}]', "reply 0 is not a reply ("),
    ],
)
def test_a_bad_script_is_one_line(tmp_path: Path, text: str, error: str) -> None:
    (tmp_path / "s.json").write_text(text)
    proc = cli("llm-server", str(tmp_path / "s.json"))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"actorchestra: error: {tmp_path / 's.json'}: {error}")
    assert proc.stderr.count("\n") == 1


def test_it_streams_lists_its_model_and_can_act_like_llama_cpp(
    script: Path, started: list[subprocess.Popen[str]], client: list[openai.OpenAI]
) -> None:
    _, c = _serve(started, client, str(script), "--model", "tiny", "--llama-cpp-like")
    assert [m.id for m in c.models.list()] == ["tiny"]
    chunks = c.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == "hello"
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": "hi"}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": {"type": "object"}},
            },
        )
