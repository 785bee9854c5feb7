"""The OpenTelemetry GenAI semantic conventions: names, values and message shapes we emit.

Followed: :data:`GENAI_CONVENTIONS`. The conventions are in Development status and have
no release yet; names were checked against the specification text (``docs/gen-ai/``
and ``model/gen-ai/`` of ``open-telemetry/semantic-conventions-genai``), not memory.

Two choices the text leaves to us, made here:

* No ``gen_ai.system_instructions``: an agent's system prompt travels as a ``system``
  message of the Chat Completions history, and instructions that are part of the chat
  history "SHOULD be recorded in ``gen_ai.input.messages``" (the attribute is for APIs
  that take instructions separately, e.g. the Responses API's ``instructions``).
* No ``gen_ai.client.inference.operation.details`` events: OpenTelemetry Python's
  events and logs APIs are still private modules (``opentelemetry._events``,
  ``opentelemetry._logs``), which this project does not use. So ``EVENT_ONLY`` records
  no content, and ``SPAN_AND_EVENT`` records it on spans only.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "GENAI_CONVENTIONS",
    "capture_message_content",
    "input_messages",
    "output_messages",
    "provider_name",
    "server_port",
    "upstream_openai_instrumentation",
]

GENAI_CONVENTIONS = "semantic-conventions-genai, main at 002c8a6 (unreleased, August 2026)"
"""The version of the GenAI semantic conventions the spans and metrics follow."""

# Hosts of providers with a well-known gen_ai.provider.name (the conventions' list).
_PROVIDERS = {
    "api.openai.com": "openai",
    "api.anthropic.com": "anthropic",
    "api.deepseek.com": "deepseek",
    "api.groq.com": "groq",
    "api.mistral.ai": "mistral_ai",
    "api.moonshot.ai": "moonshot_ai",
    "api.perplexity.ai": "perplexity",
    "api.x.ai": "x_ai",
    "api.cohere.com": "cohere",
    "generativelanguage.googleapis.com": "gcp.gemini",
}
OPENAI_COMPATIBLE = "openai_compatible"
"""Our ``gen_ai.provider.name`` for an OpenAI-compatible endpoint of no known provider
(the conventions allow a custom value; ``openai`` would promise OpenAI's own)."""

_CAPTURE_ON_SPANS = frozenset({"true", "span_only", "span_and_event"})


def provider_name(host: str) -> str:
    """``gen_ai.provider.name`` for an endpoint at ``host``, as best known.

    >>> provider_name("api.openai.com"), provider_name("127.0.0.1")
    ('openai', 'openai_compatible')
    >>> provider_name("myres.openai.azure.com")
    'azure.ai.openai'
    """
    host = host.lower()
    if host.endswith(".openai.azure.com"):
        return "azure.ai.openai"
    return _PROVIDERS.get(host, OPENAI_COMPATIBLE)


def server_port(scheme: str, port: int | None) -> int:
    """The ``server.port`` of a URL: its port, or its scheme's default."""
    return port if port is not None else (443 if scheme == "https" else 80)


def capture_message_content() -> bool:
    """Whether spans may record prompts, completions and tool arguments and results.

    Off unless ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is ``true`` or one of
    the values the OpenTelemetry GenAI utilities take that put content on spans
    (``SPAN_ONLY``, ``SPAN_AND_EVENT``; ``EVENT_ONLY`` and ``NO_CONTENT`` do not), in
    any case: the content may hold personal data or secrets.
    """
    value = os.environ.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "")
    return value.strip().lower() in _CAPTURE_ON_SPANS


def upstream_openai_instrumentation() -> bool:
    """Whether an OpenTelemetry OpenAI instrumentation is active (it makes ``chat`` spans).

    Asks the instrumentors of ``opentelemetry-instrumentation-openai-v2`` and of its
    successor ``opentelemetry-instrumentation-genai-openai`` (their public
    ``is_instrumented_by_opentelemetry``), if the application imported them.
    """
    for module, name in (
        ("opentelemetry.instrumentation.openai_v2", "OpenAIInstrumentor"),
        ("opentelemetry.instrumentation.genai.openai", "OpenAIInstrumentor"),
    ):
        loaded = sys.modules.get(module)
        instrumentor = getattr(loaded, name, None) if loaded is not None else None
        if instrumentor is not None and getattr(
            instrumentor(), "is_instrumented_by_opentelemetry", False
        ):
            return True
    return False


def _parts(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    role = message.get("role")
    content = message.get("content")
    if role == "tool":
        return [
            {"type": "tool_call_response", "id": message.get("tool_call_id"), "response": content}
        ]
    parts: list[dict[str, Any]] = []
    if isinstance(content, str) and content:
        parts.append({"type": "text", "content": content})
    elif isinstance(content, list):  # content parts of the Chat Completions API
        parts.extend(
            {"type": "text", "content": p.get("text", "")}
            for p in content
            if isinstance(p, Mapping) and p.get("type") == "text"
        )
    for call in message.get("tool_calls") or ():
        function = call.get("function", {})
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": function.get("name"),
                "arguments": function.get("arguments"),
            }
        )
    return parts


def input_messages(messages: Sequence[Mapping[str, Any]]) -> str:
    """Chat Completions messages as ``gen_ai.input.messages``: JSON, ``role`` + ``parts``.

    >>> input_messages([{"role": "user", "content": "hi"}])
    '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]'
    """
    return json.dumps([{"role": m.get("role"), "parts": _parts(m)} for m in messages], default=str)


def output_messages(choices: Sequence[tuple[Mapping[str, Any], str | None]]) -> str:
    """The choices' messages and finish reasons as ``gen_ai.output.messages`` (JSON).

    >>> output_messages([({"role": "assistant", "content": "ok"}, "stop")])
    '[{"role": "assistant", "parts": [{"type": "text", "content": "ok"}], "finish_reason": "stop"}]'
    """
    return json.dumps(
        [
            {"role": m.get("role", "assistant"), "parts": _parts(m), "finish_reason": _finish(r)}
            for m, r in choices
        ],
        default=str,
    )


def _finish(reason: str | None) -> str:
    # OpenAI's "tool_calls" is the conventions' "tool_call".
    return "tool_call" if reason == "tool_calls" else (reason or "stop")
