"""One Chat Completions call: the ``chat {model}`` span, token usage, error mapping."""

from __future__ import annotations

import json
import os
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletionMessage
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind

from actors._errors import ConfigurationError, TaskCancelled, TaskError
from bus import TokenUsage

from .cancellation import Cancellation, call_cancellable

__all__ = ["DEFAULT_MODEL_RETRIES", "capture_message_content", "chat", "with_retries"]

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


def capture_message_content() -> bool:
    """Whether spans may record prompts, completions and tool arguments and results.

    Off unless ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is ``true`` (the
    OpenTelemetry GenAI instrumentations' switch): they may hold personal data or secrets.
    """
    value = os.environ.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "")
    return value.strip().lower() == "true"


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


def with_retries(client: openai.OpenAI, max_retries: int | None) -> openai.OpenAI:
    """``client`` retrying each call at most ``max_retries`` times (``None``: as it is).

    Uses the client's public ``with_options``, so the caller's client is not changed.

    Raises:
        ConfigurationError: ``max_retries`` is negative.
    """
    if max_retries is None:
        return client
    if max_retries < 0:
        msg = f"max_retries must be >= 0 or None, got {max_retries}."
        raise ConfigurationError(msg)
    return client.with_options(max_retries=max_retries)


def chat(
    client: openai.OpenAI,
    tracer: trace.Tracer,
    *,
    model: str,
    messages: list[dict[str, Any]],
    agent: str,
    token_usage: metrics.Histogram | None = None,
    cancellation: Cancellation | None = None,
    **kwargs: Any,  # noqa: ANN401 - passed to chat.completions.create
) -> tuple[ChatCompletionMessage, TokenUsage]:
    """Call ``client.chat.completions.create`` inside a GenAI ``chat {model}`` CLIENT span.

    Attributes follow the OpenTelemetry GenAI semantic conventions
    (``gen_ai.operation.name``, ``gen_ai.provider.name``, request and response model,
    ``gen_ai.usage.input_tokens``/``output_tokens``, finish reasons). No prompt or
    completion text is recorded unless :func:`capture_message_content` (then
    ``gen_ai.input.messages`` and ``gen_ai.output.messages`` hold them as JSON). Token
    counts also go to ``token_usage`` (the ``gen_ai.client.token.usage`` histogram),
    when given. The ``openai`` client retries transport errors, 429
    and 5xx itself (``max_retries``, honouring ``Retry-After``; see
    :data:`DEFAULT_MODEL_RETRIES` for how that multiplies with task attempts).

    With ``cancellation``, the call is not made once it is cancelled, it may take at
    most the attempt's remaining time (the client's timeout for this request), and the
    caller stops waiting for it the moment the attempt is cancelled (the request is
    abandoned; it ends at that timeout).

    Returns:
        The first choice's message and the call's token usage.

    Raises:
        TaskCancelled: ``cancellation`` was cancelled before or during the call.
        TaskError: The call failed after the client's retries; ``retryable`` is true
            for connection errors, timeouts, 429 and 5xx, false otherwise (e.g. 400,
            401). The message names the error's kind, HTTP status and code, never its
            body (which may echo the prompt); the error is not chained, for the same
            reason.
    """
    with tracer.start_as_current_span(
        f"chat {model}",
        kind=SpanKind.CLIENT,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": model,
            "gen_ai.agent.name": agent,
            "server.address": client.base_url.host,
        },
    ) as span:
        capture = capture_message_content()
        if capture:
            span.set_attribute("gen_ai.input.messages", json.dumps(messages, default=str))
        try:
            if cancellation is None:
                response = client.chat.completions.create(
                    model=model, messages=cast("Any", messages), **kwargs
                )
            else:
                remaining = cancellation.remaining()
                bounded = client if remaining is None else _bounded(client, remaining)
                response = call_cancellable(
                    lambda: bounded.chat.completions.create(
                        model=model, messages=cast("Any", messages), **kwargs
                    ),
                    cancellation,
                    f"chat {agent}",
                )
        except TaskCancelled:
            span.set_attribute("error.type", "cancelled")
            raise
        except openai.OpenAIError as exc:
            span.set_attribute("error.type", type(exc).__name__)
            retryable = isinstance(exc, _RETRYABLE)
            msg = f"Model call for agent {agent!r} failed: {_describe(exc)}"
            # Not chained: an error body may echo the request (prompt text).
            raise TaskError(msg, retryable=retryable) from None
        usage = TokenUsage()
        if response.usage is not None:
            usage = TokenUsage(
                input_tokens=response.usage.prompt_tokens,
                output_tokens=response.usage.completion_tokens,
            )
        span.set_attribute("gen_ai.response.model", response.model)
        span.set_attribute("gen_ai.response.id", response.id)
        span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
        span.set_attribute(
            "gen_ai.response.finish_reasons", [c.finish_reason or "" for c in response.choices]
        )
        if token_usage is not None:
            common = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": model,
                "gen_ai.response.model": response.model,
            }
            token_usage.record(usage.input_tokens, {**common, "gen_ai.token.type": "input"})
            token_usage.record(usage.output_tokens, {**common, "gen_ai.token.type": "output"})
        if capture:
            span.set_attribute(
                "gen_ai.output.messages",
                json.dumps([c.message.model_dump(mode="json") for c in response.choices]),
            )
        if not response.choices:
            msg = f"Model for agent {agent!r} returned no choices."
            raise TaskError(msg, retryable=True)
        return response.choices[0].message, usage
