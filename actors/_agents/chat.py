"""One Chat Completions call: the ``chat {model}`` span, token usage, error mapping."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, Literal

import openai
import pydantic
from openai.types.chat import ChatCompletionMessage
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from actors._errors import TaskCancelled, TaskError
from actors._metrics import Instruments
from bus import TokenUsage

from .cancellation import Cancellation, call_cancellable
from .endpoints import (
    DEFAULT_ENDPOINTS,
    Endpoints,
    OutputMode,
    output_request,
    rejects_response_format,
    rejects_tools,
)
from .genai import (
    capture_message_content,
    input_messages,
    output_messages,
    provider_name,
    server_port,
    upstream_openai_instrumentation,
)
from .model_settings import ModelSettings
from .prompted_tools import calls_in_text, tools_in_prompt
from .streaming import DeltaSink, request

__all__ = ["DEFAULT_MODEL_RETRIES", "chat"]

DEFAULT_MODEL_RETRIES = 1
"""Retries of one model call by the ``openai`` client, unless an agent or planner says.

The client retries a call that failed on a connection error, a timeout, 408, 409, 429
or 5xx, waiting as the server's ``Retry-After`` says (else an exponential backoff of
about 0.5 to 8 s). The orchestrator retries the whole attempt on top of that, so the
HTTP requests behind one model call of a task are at most
``(1 + max_retries) * Task.max_attempts``: 2 x 3 = 6 with the defaults (the openai
client's own default of 2 would make it 9).
"""

_RETRYABLE = (
    openai.APIConnectionError,  # includes APITimeoutError
    openai.RateLimitError,
    openai.InternalServerError,
)


def _bounded(client: openai.OpenAI, seconds: float) -> openai.OpenAI:
    """``client`` whose request timeouts are at most ``seconds`` (each kept if shorter)."""
    own = client.timeout
    if isinstance(own, int | float):
        return client.with_options(timeout=min(float(own), seconds))
    if isinstance(own, openai.Timeout):
        parts = (own.connect, own.read, own.write, own.pool)
        connect, read, write, pool = (seconds if p is None else min(p, seconds) for p in parts)
        timeout = openai.Timeout(connect=connect, read=read, write=write, pool=pool)
        return client.with_options(timeout=timeout)
    return client.with_options(timeout=seconds)


def _describe(exc: openai.OpenAIError) -> str:
    """The error by kind, HTTP status and error code: never the body (it may echo input)."""
    if isinstance(exc, openai.APIStatusError):
        code = f", code {exc.code!r}" if getattr(exc, "code", None) else ""
        return f"{type(exc).__name__} (HTTP {exc.status_code}{code})"
    return type(exc).__name__


def chat(
    client: openai.OpenAI,
    tracer: trace.Tracer,
    *,
    model: str,
    messages: list[dict[str, Any]],
    agent: str,
    instruments: Instruments | None = None,
    cancellation: Cancellation | None = None,
    settings: ModelSettings | None = None,
    output_type: type[pydantic.BaseModel] | None = None,
    endpoints: Endpoints | None = None,
    stream: bool = False,
    on_delta: DeltaSink | None = None,
    **kwargs: Any,  # noqa: ANN401 - passed to chat.completions.create
) -> tuple[ChatCompletionMessage, TokenUsage]:
    """Call ``client.chat.completions.create`` inside a GenAI ``chat {model}`` CLIENT span.

    Attributes follow the OpenTelemetry GenAI semantic conventions
    (:data:`~actors._agents.genai.GENAI_CONVENTIONS`): operation, provider (as best known
    from the endpoint's host), request and response model, ``server.address`` and
    ``server.port``, the request's settings (``gen_ai.request.max_tokens``,
    ``.temperature``, ``.top_p``, ``.seed``, ... see :class:`ModelSettings`),
    ``gen_ai.request.stream``, ``gen_ai.output.type`` when a ``response_format`` asks
    for JSON, token usage (with cached input and reasoning tokens when the server
    reports them), finish reasons and, streamed, ``gen_ai.response.time_to_first_chunk``.
    No prompt or completion text is recorded unless
    :func:`~actors._agents.genai.capture_message_content` (then ``gen_ai.input.messages``
    and ``gen_ai.output.messages`` hold them, as JSON in the conventions' ``role`` +
    ``parts`` shape). Token counts and the call's duration go to ``instruments``
    (``gen_ai.client.token.usage``, ``gen_ai.client.operation.duration``) when given.
    When an OpenTelemetry OpenAI instrumentation is active it makes the ``chat`` span
    and those metrics: this call makes none, so nothing is counted twice.

    With ``output_type`` the model is asked for JSON against that pydantic model in the
    best :class:`OutputMode` the endpoint is not known to reject (``endpoints``, the
    process's :data:`DEFAULT_ENDPOINTS` by default): ``json_schema``; after a server
    refused it, ``json_object`` with the schema in the prompt; then plain text with the
    schema in the prompt. A refusal moves the endpoint to the next mode for good and the
    call is made again at once (a ``chat`` span each, the refused one with
    ``error.type``); each span names its mode in ``actorchestra.llm.output_mode``. The
    answer is not validated here: the caller validates it and re-asks.

    A server that refuses a request offering tools (:func:`rejects_tools`, e.g.
    llama.cpp's without ``--jinja``) is noted in ``endpoints`` too, and from then on
    gets the tools in the prompt instead (:func:`tools_in_prompt`): the model calls
    them by answering ``{"tool_calls": [...]}`` in JSON, which comes back as a message
    with ``tool_calls`` as from any server (asking for ``json_object`` at most, since
    the answer may be a call instead). Spans offering tools name how in
    ``actorchestra.llm.tools`` (``api`` or ``prompt``).

    With ``stream`` the answer is streamed (``stream_options`` asks for the usage) and
    each piece of its text given to ``on_delta`` as it arrives, in the thread that reads
    the stream (not the caller's when ``cancellation`` is given); tool calls are put
    together from their pieces. The result is the same as unstreamed.

    The ``openai`` client retries transport errors, 429 and 5xx itself (``max_retries``,
    honouring ``Retry-After``; see :data:`DEFAULT_MODEL_RETRIES` for how that
    multiplies with task attempts). With ``cancellation``, the call is not made once it
    is cancelled, it may take at most the attempt's remaining time (the client's
    timeout for this request), and the caller stops waiting for it the moment the
    attempt is cancelled (the request is abandoned; it ends at that timeout, a stream
    is closed at its next chunk).

    Returns:
        The first choice's message and the call's token usage.

    Raises:
        TaskCancelled: ``cancellation`` was cancelled before or during the call.
        TaskError: The call failed after the client's retries; ``retryable`` is true
            for connection errors, timeouts, 429 and 5xx, false otherwise (e.g. 400,
            401). The message names the error's kind, HTTP
            status and code, never its body (which may echo the prompt); the error is
            not chained, for the same reason.
    """
    call = _Call(
        client, tracer, model, agent, instruments, cancellation, settings, stream, on_delta
    )
    registry = endpoints if endpoints is not None else DEFAULT_ENDPOINTS
    tools: list[dict[str, Any]] = kwargs.pop("tools", None) or []
    while True:
        prompted = bool(tools) and not registry.takes_tools(client.base_url)
        options = (settings or ModelSettings()).request_options(tools=bool(tools) and not prompted)
        options.update(kwargs)
        sent = tools_in_prompt(messages, tools) if prompted else messages
        if tools and not prompted:
            options["tools"] = tools
        mode = None if output_type is None else registry.output_mode(client.base_url)
        if prompted and mode is OutputMode.JSON_SCHEMA:
            mode = OutputMode.JSON_OBJECT  # the answer may be a tool call instead
        if output_type is not None and mode is not None:
            sent, response_format = output_request(mode, output_type, sent)
            if response_format is not None:
                options["response_format"] = response_format
        how: Literal["api", "prompt"] | None = ("prompt" if prompted else "api") if tools else None
        try:
            message, usage = _send(call, sent, options, mode, how)
        except _FormatRejectedError:
            if mode is None or registry.rejected(client.base_url, mode) is None:
                raise
            continue
        except _ToolsRejectedError:
            registry.tools_refused(client.base_url)
            continue
        return (calls_in_text(message) if prompted else message), usage


class _FormatRejectedError(TaskError):
    """The server refused the request's ``response_format`` (try the next mode)."""


class _ToolsRejectedError(TaskError):
    """The server refused a request offering tools (offer them in the prompt)."""


@dataclass(frozen=True, slots=True)
class _Call:
    """What stays the same over the requests of one :func:`chat`."""

    client: openai.OpenAI
    tracer: trace.Tracer
    model: str
    agent: str
    instruments: Instruments | None
    cancellation: Cancellation | None
    settings: ModelSettings | None
    stream: bool
    on_delta: DeltaSink | None


def _send(
    call: _Call,
    messages: list[dict[str, Any]],
    kwargs: dict[str, Any],
    mode: OutputMode | None,
    tools: Literal["api", "prompt"] | None,
) -> tuple[ChatCompletionMessage, TokenUsage]:
    """One request in one ``chat`` span (see :func:`chat`); ``tools``: how offered."""
    client, model, agent, instruments = call.client, call.model, call.agent, call.instruments
    cancellation, stream, on_delta = call.cancellation, call.stream, call.on_delta
    url = client.base_url
    common: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider_name(url.host),
        "gen_ai.request.model": model,
        "server.address": url.host,
        "server.port": server_port(url.scheme, url.port),
    }
    attributes: dict[str, AttributeValue] = {
        **common,
        "gen_ai.agent.name": agent,
        **_output_type(kwargs),
        **(call.settings.span_attributes() if call.settings is not None else {}),
    }
    if tools is not None:
        attributes["actorchestra.llm.tools"] = tools
    if stream:
        attributes["gen_ai.request.stream"] = True
    if mode is not None:  # JSON is asked for, in the prompt at least
        attributes["gen_ai.output.type"] = "json"
        attributes["actorchestra.llm.output_mode"] = mode.value
    upstream = upstream_openai_instrumentation()
    span_cm = (
        contextlib.nullcontext(trace.INVALID_SPAN)
        if upstream
        else call.tracer.start_as_current_span(
            f"chat {model}", kind=SpanKind.CLIENT, attributes=attributes
        )
    )
    started = time.monotonic()
    with span_cm as span:
        capture = capture_message_content() and span.is_recording()
        if capture:
            span.set_attribute("gen_ai.input.messages", input_messages(messages))
        first_chunk: float | None = None
        try:
            if cancellation is None:
                response, first_chunk = request(
                    client, model, messages, kwargs, stream=stream, on_delta=on_delta
                )
            else:
                remaining = cancellation.remaining()
                bounded = client if remaining is None else _bounded(client, remaining)
                call_cancellation = cancellation
                response, first_chunk = call_cancellable(
                    lambda: request(
                        bounded,
                        model,
                        messages,
                        kwargs,
                        stream=stream,
                        on_delta=on_delta,
                        stop=lambda: call_cancellation.cancelled,
                    ),
                    cancellation,
                    f"chat {agent}",
                )
        except (TaskCancelled, openai.OpenAIError) as exc:
            kind = "cancelled" if isinstance(exc, TaskCancelled) else type(exc).__name__
            span.set_attribute("error.type", kind)
            if instruments is not None and not upstream:
                instruments.operation_duration.record(
                    time.monotonic() - started, {**common, "error.type": kind}
                )
            if isinstance(exc, TaskCancelled):
                raise
            if "response_format" in kwargs and rejects_response_format(exc):
                msg = f"Model server for agent {agent!r} refused output mode {mode}."
                raise _FormatRejectedError(msg, retryable=False) from None
            if kwargs.get("tools") and rejects_tools(exc):
                msg = f"Model server for agent {agent!r} refused tools: {_describe(exc)}"
                raise _ToolsRejectedError(msg, retryable=False) from None
            retryable = isinstance(exc, _RETRYABLE)
            msg = f"Model call for agent {agent!r} failed: {_describe(exc)}"
            # Not chained: an error body may echo the request (prompt text).
            raise TaskError(msg, retryable=retryable) from None
        if first_chunk is not None:
            span.set_attribute("gen_ai.response.time_to_first_chunk", first_chunk)
        usage = TokenUsage()
        details: dict[str, int] = {}
        if response.usage is not None:
            details = _token_details(response.usage)
            usage = TokenUsage(
                input_tokens=response.usage.prompt_tokens,
                output_tokens=response.usage.completion_tokens,
                cached_input_tokens=details.get("gen_ai.usage.cache_read.input_tokens", 0),
                reasoning_tokens=details.get("gen_ai.usage.reasoning.output_tokens", 0),
            )
        span.set_attributes(
            {
                "gen_ai.response.model": response.model,
                "gen_ai.response.id": response.id,
                "gen_ai.usage.input_tokens": usage.input_tokens,
                "gen_ai.usage.output_tokens": usage.output_tokens,
                "gen_ai.response.finish_reasons": [c.finish_reason or "" for c in response.choices],
                **details,
            }
        )
        if instruments is not None and not upstream:
            measured = {**common, "gen_ai.response.model": response.model}
            instruments.operation_duration.record(time.monotonic() - started, measured)
            token_usage = instruments.token_usage
            token_usage.record(usage.input_tokens, {**measured, "gen_ai.token.type": "input"})
            token_usage.record(usage.output_tokens, {**measured, "gen_ai.token.type": "output"})
        if capture:
            span.set_attribute(
                "gen_ai.output.messages",
                output_messages(
                    [(c.message.model_dump(mode="json"), c.finish_reason) for c in response.choices]
                ),
            )
        if not response.choices:
            msg = f"Model for agent {agent!r} returned no choices."
            raise TaskError(msg, retryable=True)
        return response.choices[0].message, usage


def _output_type(kwargs: dict[str, Any]) -> dict[str, AttributeValue]:
    """``gen_ai.output.type`` when the request asks for a format (JSON or text)."""
    requested = kwargs.get("response_format")
    if not isinstance(requested, dict):
        return {}
    kind = requested.get("type")
    if kind in ("json_schema", "json_object"):
        return {"gen_ai.output.type": "json"}
    return {"gen_ai.output.type": "text"} if kind == "text" else {}


def _token_details(usage: Any) -> dict[str, int]:  # noqa: ANN401 - CompletionUsage
    """Cached input and reasoning tokens, when the server reports them."""
    found: dict[str, int] = {}
    prompt = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(prompt, "cached_tokens", None) if prompt is not None else None
    if cached is not None:
        found["gen_ai.usage.cache_read.input_tokens"] = cached
    completion = getattr(usage, "completion_tokens_details", None)
    reasoning = getattr(completion, "reasoning_tokens", None) if completion is not None else None
    if reasoning is not None:
        found["gen_ai.usage.reasoning.output_tokens"] = reasoning
    return found
