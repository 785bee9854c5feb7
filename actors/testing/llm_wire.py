"""The local server's wire format: completions, SSE chunks, and what a strict server refuses."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .llm_server import Reply

__all__ = ["ALL_RESPONSE_FORMATS", "completion", "model_list", "refusal", "sse_chunks"]

ALL_RESPONSE_FORMATS = ("text", "json_object", "json_schema")
"""The ``response_format`` types OpenAI's Chat Completions API takes."""

# The fields of a message in OpenAI's API reference that a strict server (llama.cpp's)
# takes, by role; a field a server added to a response (reasoning_content, refusal,
# annotations, audio) is not one of them.
_MESSAGE_FIELDS = {
    "system": {"role", "content", "name"},
    "developer": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "tool_calls"},
    "tool": {"role", "content", "tool_call_id"},
}
_CALL_FIELDS = {"id", "type", "function"}
_FUNCTION_FIELDS = {"name", "arguments"}


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def refusal(
    body: dict[str, Any],
    *,
    response_formats: Collection[str],
    tools: bool,
    strict_messages: bool,
) -> str | None:
    """Why a server with these limits refuses ``body`` (HTTP 400), or ``None``.

    The messages are those llama.cpp's server gives (``response_format type must be
    one of "text" or "json_object", but got: json_schema``; ``tools param requires
    --jinja flag``), or name the message and field a strict server does not take.
    """
    requested = body.get("response_format")
    kind = requested.get("type") if isinstance(requested, dict) else None
    if kind is not None and kind not in response_formats:
        allowed = " or ".join(f'"{k}"' for k in response_formats)
        return f"response_format type must be one of {allowed}, but got: {kind}"
    if not tools and body.get("tools"):
        return "tools param requires --jinja flag"
    if not strict_messages:
        return None
    for i, message in enumerate(body.get("messages") or ()):
        allowed_fields = _MESSAGE_FIELDS.get(message.get("role"), set())
        unknown = sorted(set(message) - allowed_fields)
        if unknown:
            return f"messages[{i}]: unknown field(s) {unknown} for role {message.get('role')!r}"
        if "content" not in message:
            return f"messages[{i}]: missing 'content'"
        for call in message.get("tool_calls") or ():
            extra = sorted(set(call) - _CALL_FIELDS) + sorted(
                set(call.get("function") or {}) - _FUNCTION_FIELDS
            )
            if extra:
                return f"messages[{i}].tool_calls: unknown field(s) {extra}"
    return None


def _calls(reply: Reply) -> list[dict[str, Any]]:
    calls = []
    for name, args in reply.tool_calls:
        arguments = args if isinstance(args, str) else json.dumps(args)
        calls.append(
            {
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
        )
    return calls


def _usage(body: dict[str, Any], reply: Reply, calls: list[dict[str, Any]]) -> dict[str, Any]:
    """A deterministic usage: about 4 characters a token, of the prompt and the answer."""
    out_text = (reply.content or "") + "".join(
        c["function"]["name"] + c["function"]["arguments"] for c in calls
    )
    prompt = _tokens(json.dumps(body.get("messages", [])))
    completion_tokens = _tokens(out_text)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }
    if reply.cached_tokens:
        usage["prompt_tokens_details"] = {"cached_tokens": min(reply.cached_tokens, prompt)}
    return usage


def completion(body: dict[str, Any], reply: Reply, model: str) -> dict[str, Any]:
    """The ``chat.completion`` object that carries ``reply``."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    calls = _calls(reply)
    if calls:
        message["tool_calls"] = calls
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model") or model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if calls else "stop",
                "logprobs": None,
            }
        ],
        "usage": _usage(body, reply, calls),
    }


def sse_chunks(body: dict[str, Any], reply: Reply, model: str) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of ``reply`` streamed, in order.

    As OpenAI streams: a first chunk with the role, the text in pieces (a word and its
    spaces each), each tool call's id and name then its arguments in pieces of 16
    characters, a last chunk with the finish reason and, when
    ``stream_options.include_usage`` is asked, a chunk with no choices and the usage
    (the others then carry ``"usage": null``). The caller sends each as a
    ``data: <json>`` event and ends with ``data: [DONE]``.
    """
    ident = f"chatcmpl-{uuid.uuid4().hex[:16]}"
    name = body.get("model") or model
    options = body.get("stream_options") or {}
    with_usage = bool(options.get("include_usage"))

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": 0,
            "model": name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        if with_usage:
            out["usage"] = None
        return out

    yield chunk({"role": "assistant", "content": ""})
    for piece in re.findall(r"\s*\S+\s*|\s+", reply.content or ""):
        yield chunk({"content": piece})
    calls = _calls(reply)
    for index, call in enumerate(calls):
        function = call["function"]
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": function["name"], "arguments": ""},
                    }
                ]
            }
        )
        arguments = function["arguments"]
        for start in range(0, len(arguments), 16):
            part = arguments[start : start + 16]
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
    yield chunk({}, "tool_calls" if calls else "stop")
    if with_usage:
        yield {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": 0,
            "model": name,
            "choices": [],
            "usage": _usage(body, reply, calls),
        }


def model_list(model: str) -> dict[str, Any]:
    """The ``GET /v1/models`` answer: one model, ``model``."""
    return {
        "object": "list",
        "data": [{"id": model, "object": "model", "created": 0, "owned_by": "actorchestra"}],
    }
