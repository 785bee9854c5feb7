"""Handoff edges: an LLM agent's ``transfer_to_<agent>`` tools, with typed context."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

import pydantic
from pydantic import Field, JsonValue

from actors._errors import ConfigurationError

from .agent import HandoffTo
from .tool import function_schema, invalid_arguments

__all__ = ["HandoffEdge", "Transfer"]

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""What the Chat Completions API accepts as a function name."""

TRANSFER_PREFIX = "transfer_to_"


@dataclass(frozen=True, slots=True)
class HandoffEdge:
    """An agent an :class:`LLMAgent` may hand its task over to, and what goes with it.

    The LLM agent offers its model one function tool per edge, ``transfer_to_<agent>``
    (the name the OpenAI Agents SDK and LangGraph use). Its arguments are a ``reason``
    and, with a ``context`` model, a ``context`` object valid against it. A call with
    valid arguments ends the attempt with a :class:`bus.Handoff` to ``agent`` carrying
    the validated context (as JSON); invalid ones go back to the model as a tool error,
    as for any tool. The receiving agent reads it with
    :meth:`TaskContext.handed_over` (an :class:`LLMAgent` given ``context_type``
    validates it and shows it in its prompt). The team must declare the edge too
    (``Team(handoffs=...)``), which the orchestrator checks.

    Attributes:
        agent: Name of the agent that takes over.
        context: Pydantic model of the context handed over; ``None`` for a reason only.
        description: When to transfer, for the model (the tool's description);
            ``"Hand the task over to agent '<agent>'."`` by default.

    Example:
        >>> from pydantic import BaseModel
        >>> class Billing(BaseModel):
        ...     invoice: str
        >>> edge = HandoffEdge("billing", context=Billing, description="Invoices, refunds.")
        >>> Transfer.of(edge).name
        'transfer_to_billing'
    """

    agent: str
    context: type[pydantic.BaseModel] | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class Transfer:
    """The ``transfer_to_<agent>`` tool of one :class:`HandoffEdge`.

    Attributes:
        edge: The edge.
        name: The function name the model calls.
        description: The tool's description.
        arguments: Pydantic model of its arguments (``reason``, and ``context``).
    """

    edge: HandoffEdge
    name: str
    description: str
    arguments: type[pydantic.BaseModel]

    @classmethod
    def of(cls, edge: HandoffEdge | str) -> Transfer:
        """The transfer tool of ``edge`` (a bare name is an edge with no context model).

        Raises:
            ConfigurationError: ``transfer_to_<agent>`` is not a valid function name
                (letters, digits, ``_`` and ``-``, at most 64), or ``context`` is not a
                pydantic model class.
        """
        if isinstance(edge, str):
            edge = HandoffEdge(edge)
        name = TRANSFER_PREFIX + edge.agent
        if not _TOOL_NAME.match(name):
            msg = (
                f"Handoff to {edge.agent!r} would be a tool named {name!r}, which is not a "
                "valid function name; use agent names of letters, digits, '_' and '-'."
            )
            raise ConfigurationError(msg)
        context = edge.context
        if context is not None and not (
            isinstance(context, type) and issubclass(context, pydantic.BaseModel)
        ):
            msg = f"Handoff to {edge.agent!r} needs a pydantic model class as context."
            raise ConfigurationError(msg)
        fields: dict[str, Any] = {
            "reason": (str, Field(default="", description="Why you hand the task over.")),
        }
        if context is not None:
            described = Field(description=f"What the {edge.agent} agent needs to know.")
            fields["context"] = (context, described)
        arguments = pydantic.create_model(
            f"{name}_arguments", __config__=pydantic.ConfigDict(extra="forbid"), **fields
        )
        description = edge.description or f"Hand the task over to agent {edge.agent!r}."
        return cls(edge, name, description, arguments)

    def schema(self) -> dict[str, Any]:
        """The tool as an entry of the Chat Completions ``tools`` list."""
        return function_schema(self.name, self.description, self.arguments)

    def invoke(self, arguments: str) -> HandoffTo:
        """Validate the model's JSON ``arguments``; the handoff they ask for.

        Raises:
            ToolArgumentsError: The arguments are not JSON or fail the schema (the
                message restates pydantic's errors, for sending back to the model).
        """
        try:
            args = self.arguments.model_validate_json(arguments or "{}")
        except pydantic.ValidationError as exc:
            raise invalid_arguments(self.name, exc) from exc
        context: dict[str, JsonValue] = {}
        value = getattr(args, "context", None)
        if isinstance(value, pydantic.BaseModel):
            context = cast("dict[str, JsonValue]", value.model_dump(mode="json"))
        return HandoffTo(
            agent=self.edge.agent, reason=str(getattr(args, "reason", "")), context=context
        )
