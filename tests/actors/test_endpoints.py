"""What endpoints accept, learned once; what counts as a refusal; model settings' values."""

from __future__ import annotations

import threading

import openai
import pytest
from openai.types.chat import ChatCompletionMessage
from pydantic import ValidationError

from actors import Endpoints, ModelSettings, OutputMode
from actors._agents.endpoints import rejects_response_format, rejects_tools
from actors._agents.prompted_tools import calls_in_text
from actors.testing import FakeLLMServer, Reply

URL = "http://127.0.0.1:8080/v1"


def status_error(status: int, message: str) -> openai.OpenAIError:
    """The error the openai client raises for this answer of a server."""
    with FakeLLMServer([Reply.error(status, message=message)]) as server:
        try:
            server.client().chat.completions.create(model="m", messages=[])
        except openai.OpenAIError as exc:
            return exc
    raise AssertionError("no error")


def test_an_endpoint_moves_down_one_mode_per_refusal_and_never_skips_one() -> None:
    endpoints = Endpoints()
    assert endpoints.output_mode(URL + "/") is OutputMode.JSON_SCHEMA
    # Two threads meet the same refusal at once: the endpoint moves one mode, not two.
    seen: list[OutputMode | None] = []
    threads = [
        threading.Thread(
            target=lambda: seen.append(endpoints.rejected(URL, OutputMode.JSON_SCHEMA))
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [OutputMode.JSON_OBJECT, OutputMode.JSON_OBJECT]
    assert endpoints.output_mode(URL) is OutputMode.JSON_OBJECT
    assert endpoints.rejected(URL, OutputMode.JSON_OBJECT) is OutputMode.TEXT
    assert endpoints.rejected(URL, OutputMode.TEXT) is None
    assert endpoints.output_mode("http://other:1/v1") is OutputMode.JSON_SCHEMA
    endpoints.forget()
    assert endpoints.output_mode(URL) is OutputMode.JSON_SCHEMA


def test_what_counts_as_refusing_response_format_or_tools() -> None:
    llama_old = 'response_format type must be one of "text" or "json_object", but got: json_schema'
    assert rejects_response_format(status_error(500, llama_old))  # older llama.cpp: a 500
    assert rejects_response_format(status_error(400, llama_old))
    assert not rejects_response_format(status_error(400, "context length exceeded"))
    assert not rejects_response_format(status_error(500, "out of memory"))
    with (
        FakeLLMServer([Reply.dropped()]) as server,
        pytest.raises(openai.APIConnectionError) as dropped,
    ):
        server.client().chat.completions.create(model="m", messages=[])
    assert not rejects_response_format(dropped.value)
    assert rejects_tools(status_error(400, "tools param requires --jinja flag"))
    assert not rejects_tools(status_error(400, "context length exceeded"))


def test_settings_merge_only_what_the_override_sets() -> None:
    base = ModelSettings(max_tokens=100, temperature=0.5, seed=3)
    merged = base.merged(ModelSettings(temperature=None, top_p=0.8))
    assert merged == ModelSettings(max_tokens=100, seed=3, top_p=0.8)
    assert base.merged(None) is base
    assert base.merged(ModelSettings()) is base
    assert ModelSettings(max_completion_tokens=50).span_attributes() == {
        "gen_ai.request.max_tokens": 50
    }


@pytest.mark.parametrize(
    "options",
    [{"max_tokens": 0}, {"temperature": 2.5}, {"top_p": -0.1}, {"stop": ("a",) * 5}, {"x": 1}],
)
def test_settings_out_of_range_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ModelSettings.model_validate(options)


def test_only_a_tool_calls_object_in_the_text_is_a_call() -> None:
    def answer(text: str) -> ChatCompletionMessage:
        return ChatCompletionMessage.model_validate({"role": "assistant", "content": text})

    for text in ("five", '{"total": 5}', '{"tool_calls": []}', '{"tool_calls": [1]}', "[1]"):
        assert calls_in_text(answer(text)).content == text
    called = calls_in_text(answer('```json\n{"tool_calls": [{"name": "add"}]}\n```'))
    assert called.content is None
    [call] = called.tool_calls or []
    assert (call.type, call.function.name, call.function.arguments) == ("function", "add", "{}")  # type: ignore[union-attr, unused-ignore]  # a union in newer openai
