"""A streamed Chat Completion, read chunk by chunk into the completion it adds up to."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

__all__ = ["DeltaSink", "collect_stream", "request"]

DeltaSink = Callable[[str], None]
"""Gets each piece of the model's text as it arrives (in the thread reading the stream)."""


def collect_stream(
    chunks: Iterable[ChatCompletionChunk],
    on_delta: DeltaSink | None = None,
    *,
    stop: Callable[[], bool] = lambda: False,
) -> tuple[ChatCompletion, float | None]:
    """Read ``chunks`` (OpenAI's ``chat.completion.chunk`` objects) into one completion.

    Text deltas are joined and passed to ``on_delta`` in order; tool-call deltas are
    joined by their ``index`` (id, name, and the arguments' pieces); the last chunk
    with ``usage`` (sent with ``stream_options={"include_usage": True}``) gives the
    usage. Reading ends early when ``stop()`` is true (checked before each chunk).

    Returns:
        The completion (first choice only) and the seconds from the call to the first
        chunk (``gen_ai.response.time_to_first_chunk``), ``None`` if none came.
    """
    started = time.monotonic()
    first: float | None = None
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish: str | None = None
    role = "assistant"
    meta: dict[str, Any] = {"id": "", "model": "", "created": 0}
    usage: Any = None
    for chunk in chunks:
        if stop():
            break
        if first is None:
            first = time.monotonic() - started
        meta = {
            "id": chunk.id or meta["id"],
            "model": chunk.model or meta["model"],
            "created": chunk.created or meta["created"],
        }
        if chunk.usage is not None:
            usage = chunk.usage.model_dump(mode="json")
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta
            role = delta.role or role
            if choice.finish_reason is not None:
                finish = choice.finish_reason
            if delta.content:
                text.append(delta.content)
                if on_delta is not None:
                    on_delta(delta.content)
            for part in delta.tool_calls or ():
                call = calls.setdefault(
                    part.index,
                    {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
                )
                call["id"] = part.id or call["id"]
                if part.function is not None:
                    call["function"]["name"] += part.function.name or ""
                    call["function"]["arguments"] += part.function.arguments or ""
    message: dict[str, Any] = {"role": role, "content": "".join(text) if text else None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    completion = {
        **meta,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish or "stop"}],
        "usage": usage,
    }
    return ChatCompletion.model_validate(completion), first


def request(
    client: openai.OpenAI,
    model: str,
    messages: list[dict[str, Any]],
    options: dict[str, Any],
    *,
    stream: bool = False,
    on_delta: DeltaSink | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> tuple[ChatCompletion, float | None]:
    """One ``chat.completions.create`` call, streamed or not, as a completion.

    Streamed, it asks for the usage in the last chunk (``stream_options``), reads the
    chunks with :func:`collect_stream` and closes the stream (also when ``stop()`` ends
    the reading early).

    Returns:
        The completion, and the seconds to its first chunk (``None`` unstreamed).

    Raises:
        openai.OpenAIError: The call failed.
    """
    create = client.chat.completions.create
    if not stream:
        return create(model=model, messages=cast("Any", messages), **options), None
    chunks = create(
        model=model,
        messages=cast("Any", messages),
        stream=True,
        stream_options={"include_usage": True},
        **options,
    )
    with chunks:
        return collect_stream(chunks, on_delta, stop=stop)
