"""What each OpenAI-compatible endpoint accepts: structured output modes, learned once."""

from __future__ import annotations

import json
import threading
from enum import StrEnum
from typing import Any

import openai
import pydantic

from .prompted_tools import with_system_note

__all__ = [
    "DEFAULT_ENDPOINTS",
    "Endpoints",
    "OutputMode",
    "output_request",
    "rejects_response_format",
    "rejects_tools",
]


class OutputMode(StrEnum):
    """How a model is asked for JSON against a schema, best first.

    Recorded on each ``chat`` span as ``actorchestra.llm.output_mode``.
    """

    JSON_SCHEMA = "json_schema"
    """``response_format`` ``json_schema`` with the schema (OpenAI's structured output)."""
    JSON_OBJECT = "json_object"
    """``response_format`` ``json_object`` (any JSON object), the schema in the prompt:
    what llama.cpp's server accepts besides ``text``."""
    TEXT = "text"
    """No ``response_format``, the schema in the prompt; the answer is validated and a
    bad one sent back, as in every mode."""


_NEXT = {OutputMode.JSON_SCHEMA: OutputMode.JSON_OBJECT, OutputMode.JSON_OBJECT: OutputMode.TEXT}


class Endpoints:
    """What each endpoint (by base URL) was found to accept: output mode, tool calls.

    An endpoint starts at :attr:`OutputMode.JSON_SCHEMA`; when it rejects a mode (see
    :func:`rejects_response_format`) it is moved to the next one for the rest of the
    process, so only the first call that meets the rejection pays for it. Likewise an
    endpoint that refused a request offering tools (:func:`rejects_tools`) gets them in
    the prompt from then on. Thread-safe. Agents and planners share
    :data:`DEFAULT_ENDPOINTS` unless given their own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._modes: dict[str, OutputMode] = {}
        self._no_tools: set[str] = set()

    def takes_tools(self, base_url: object) -> bool:
        """Whether ``base_url`` is not known to refuse requests offering tools."""
        with self._lock:
            return self.key(base_url) not in self._no_tools

    def tools_refused(self, base_url: object) -> bool:
        """Note that ``base_url`` refused tools; false if that was known already."""
        with self._lock:
            key = self.key(base_url)
            known = key in self._no_tools
            self._no_tools.add(key)
            return not known

    @staticmethod
    def key(base_url: object) -> str:
        """The endpoint's key: its base URL as text, without a trailing slash."""
        return str(base_url).rstrip("/")

    def output_mode(self, base_url: object) -> OutputMode:
        """The best mode ``base_url`` is not known to reject."""
        with self._lock:
            return self._modes.get(self.key(base_url), OutputMode.JSON_SCHEMA)

    def rejected(self, base_url: object, mode: OutputMode) -> OutputMode | None:
        """Note that ``base_url`` rejected ``mode``; the mode to try next (``None``: none).

        A rejection of a mode already given up (a call of another thread) moves nothing.
        """
        with self._lock:
            key = self.key(base_url)
            current = self._modes.get(key, OutputMode.JSON_SCHEMA)
            if current is mode:
                following = _NEXT.get(mode)
                if following is None:
                    return None
                self._modes[key] = current = following
            return current

    def forget(self) -> None:
        """Forget every endpoint (each starts at ``json_schema``, with tools, again)."""
        with self._lock:
            self._modes.clear()
            self._no_tools.clear()


DEFAULT_ENDPOINTS = Endpoints()
"""The process's record of what endpoints accept (see :class:`Endpoints`)."""


def _error_text(exc: openai.APIStatusError) -> str:
    """The error's message and body, lowercased: only searched, never reported."""
    return f"{exc.message} {json.dumps(exc.body, default=str)}".lower()


def rejects_response_format(exc: openai.OpenAIError) -> bool:
    """Whether ``exc`` is a server refusing the request's ``response_format``.

    An HTTP 400, 422 or 500 whose error names ``response_format``, ``json_schema`` or
    ``json_object``: llama.cpp's server answers ``response_format type must be one of
    "text" or "json_object", but got: json_schema`` (500 in older builds, 400 in newer
    ones; vLLM and others use 400 or 422).
    """
    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 422, 500):
        return False
    text = _error_text(exc)
    return any(word in text for word in ("response_format", "json_schema", "json_object"))


def rejects_tools(exc: openai.OpenAIError) -> bool:
    """Whether ``exc`` is a server refusing a request because it offers tools.

    An HTTP 400, 422 or 500 whose error names ``tools`` or ``tool_choice`` (llama.cpp's
    server without ``--jinja``: ``tools param requires --jinja flag``).
    """
    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 422, 500):
        return False
    text = _error_text(exc)
    return "tools" in text or "tool_choice" in text


def output_request(
    mode: OutputMode, model: type[pydantic.BaseModel], messages: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The messages and ``response_format`` asking for ``model`` as JSON in ``mode``.

    Outside ``json_schema`` the schema is added to the first system message (see
    :func:`with_system_note`); ``json_object`` needs the word JSON in the prompt.
    """
    schema = model.model_json_schema()
    if mode is OutputMode.JSON_SCHEMA:
        return messages, {
            "type": "json_schema",
            "json_schema": {"name": model.__name__, "schema": schema},
        }
    instruction = (
        f"Reply with only a JSON object (no prose, no code fence) valid against this "
        f"JSON schema of {model.__name__}:\n{json.dumps(schema, separators=(',', ':'))}"
    )
    mode_format = {"type": "json_object"} if mode is OutputMode.JSON_OBJECT else None
    return with_system_note(messages, instruction), mode_format
