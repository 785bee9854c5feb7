"""Model settings: the request options of a Chat Completions call, as one frozen value."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry.util.types import AttributeValue
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from actors._errors import ConfigurationError, TaskError

if TYPE_CHECKING:
    from .task_context import TaskContext

__all__ = ["ModelSettings", "TaskSettings", "settings_for"]

_SPAN_NAMES = {
    "max_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "seed": "gen_ai.request.seed",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "stop": "gen_ai.request.stop_sequences",
}
_TOOL_OPTIONS = frozenset({"tool_choice", "parallel_tool_calls"})


class ModelSettings(BaseModel):
    """Request options of every model call of an agent or planner (``None``: not sent).

    Each set option is sent as the Chat Completions request field of the same name
    (OpenAI's API reference); a server that does not know one may reject the request.
    ``extra_body`` is merged into the request body as it is, for options a server
    has beyond OpenAI's (e.g. llama.cpp's ``top_k``, ``min_p``, ``grammar``).
    ``tool_choice`` and ``parallel_tool_calls`` are sent only with tools (OpenAI
    refuses them without). Settings are recorded on each ``chat`` span under the
    OpenTelemetry GenAI names (``gen_ai.request.max_tokens``, ``.temperature``,
    ``.top_p``, ``.seed``, ``.frequency_penalty``, ``.presence_penalty``,
    ``.stop_sequences``; ``max_completion_tokens`` as ``gen_ai.request.max_tokens``
    when ``max_tokens`` is not set); ``extra_body`` is not recorded.

    Attributes:
        max_tokens: Tokens the model may generate per call, at most (≥ 1).
        max_completion_tokens: The same limit under OpenAI's newer name (reasoning
            tokens included), which its reasoning models require; send one of the two.
        temperature: Sampling temperature, 0 to 2.
        top_p: Nucleus sampling mass, 0 to 1.
        seed: Seed for best-effort deterministic sampling.
        frequency_penalty: -2 to 2.
        presence_penalty: -2 to 2.
        stop: Up to 4 sequences at which the model stops.
        tool_choice: ``"auto"``, ``"none"``, ``"required"``, or the name of one tool
            the model must call (sent as ``{"type": "function", "function": {...}}``).
        parallel_tool_calls: Whether the model may call several tools in one message.
        extra_body: More body fields, JSON values, sent as they are.

    Example:
        >>> base = ModelSettings(max_tokens=256, temperature=0.2)
        >>> base.merged(ModelSettings(temperature=0.0)).request_options(tools=False)
        {'max_tokens': 256, 'temperature': 0.0}
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    seed: int | None = None
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    stop: tuple[str, ...] | None = Field(default=None, max_length=4)
    tool_choice: Literal["auto", "none", "required"] | str | None = Field(
        default=None, min_length=1
    )
    parallel_tool_calls: bool | None = None
    extra_body: dict[str, JsonValue] | None = None

    def merged(self, override: ModelSettings | None) -> ModelSettings:
        """These settings with the options ``override`` sets (even to ``None``) replaced."""
        if override is None or not override.model_fields_set:
            return self
        return self.model_copy(update={k: getattr(override, k) for k in override.model_fields_set})

    def request_options(self, *, tools: bool) -> dict[str, Any]:
        """The keyword arguments of ``chat.completions.create`` (``extra_body`` included).

        Args:
            tools: Whether the request offers tools (else the tool options are left out).
        """
        options: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None or (name in _TOOL_OPTIONS and not tools):
                continue
            if name == "stop":
                value = list(value)
            elif name == "tool_choice" and value not in ("auto", "none", "required"):
                value = {"type": "function", "function": {"name": value}}
            elif name == "extra_body":
                value = dict(value)
            options[name] = value
        return options

    def span_attributes(self) -> dict[str, AttributeValue]:
        """The ``gen_ai.request.*`` attributes of these settings (GenAI conventions)."""
        found: dict[str, AttributeValue] = {}
        for name, key in _SPAN_NAMES.items():
            value = getattr(self, name)
            if value is not None:
                found[key] = list(value) if name == "stop" else value
        if self.max_tokens is None and self.max_completion_tokens is not None:
            found["gen_ai.request.max_tokens"] = self.max_completion_tokens
        return found

    def check_tools(self, owner: str, tools: Collection[str]) -> None:
        """Check that a ``tool_choice`` naming a tool names one of ``tools``.

        Raises:
            ConfigurationError: It names a tool ``owner`` does not offer.
        """
        choice = self.tool_choice
        if choice is None or choice in ("auto", "none", "required") or choice in tools:
            return
        msg = (
            f"{owner} has tool_choice {choice!r}, which is none of its tools "
            f"{sorted(tools)}; name one of them, or use 'auto', 'none' or 'required'."
        )
        raise ConfigurationError(msg)


TaskSettings = Mapping[str, ModelSettings] | Callable[["TaskContext"], ModelSettings | None]
"""Per-task overrides of an agent's settings: by task id, or a function of the task
(runs in the agent's thread, once per attempt; it may raise, failing the attempt)."""


def settings_for(
    base: ModelSettings,
    per_task: TaskSettings | None,
    task: TaskContext,
    owner: str,
    request: Mapping[str, Any],
) -> ModelSettings:
    """``base`` with ``per_task``'s override for ``task`` merged in, checked.

    Args:
        base: The agent's settings.
        per_task: Overrides by task id, or a function giving one (or ``None``).
        task: The attempt.
        owner: Who the settings are of, for the error message (``LLMAgent 'x'``).
        request: The request's other options: its ``tools`` are checked against
            ``tool_choice``.

    Raises:
        TaskError: (not retryable) The merged ``tool_choice`` names no offered tool.
    """
    settings = base
    if per_task is not None:
        override = per_task.get(task.task_id) if isinstance(per_task, Mapping) else per_task(task)
        settings = base.merged(override)
    offered = [t["function"]["name"] for t in request.get("tools") or ()]
    try:
        settings.check_tools(owner, offered)
    except ConfigurationError as exc:
        raise TaskError(str(exc), retryable=False) from None
    return settings
