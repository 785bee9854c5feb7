"""Tools: typed Python functions a model may call, with pydantic-validated arguments."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_type_hints

import pydantic
import pydantic_core

from actors._errors import ConfigurationError, NotJSONError, ToolArgumentsError
from actors._json_value import to_json_value
from memory import IdempotencyStore

from .idempotency_keys import canonical_json, run_side_effect
from .task_context import TaskContext

__all__ = ["Tool", "function_schema", "invalid_arguments", "side_effect"]

_SIDE_EFFECTS = "__actorchestra_side_effects__"


def side_effect(function: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a tool function as having side effects (a payment, an e-mail, a file write).

    Such a tool runs at most once per idempotency key (workflow, task, tool, arguments):
    a retried attempt, or a restarted agent, gets the stored result instead of running
    it again (see :class:`IdempotencyStore`).

    Example:
        >>> @side_effect
        ... def send_mail(to: str, body: str) -> str:
        ...     return "sent"
    """
    setattr(function, _SIDE_EFFECTS, True)
    return function


@dataclass(frozen=True, slots=True)
class Tool:
    """A function exposed to a model as an OpenAI function tool.

    Build one with :meth:`from_function`. A parameter annotated :class:`TaskContext` is
    not shown to the model: the current task is passed in (as pydantic-ai's
    ``RunContext``).

    Attributes:
        name: The function name the model calls.
        description: First paragraph of the docstring.
        arguments: Pydantic model of the arguments the model must send.
        function: The function.
        context_param: Name of the :class:`TaskContext` parameter, if any.
        side_effects: Whether it runs at most once per idempotency key (see
            :func:`side_effect`).
    """

    name: str
    description: str
    arguments: type[pydantic.BaseModel]
    function: Callable[..., Any]
    context_param: str | None = None
    side_effects: bool = False

    @classmethod
    def from_function(
        cls,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        side_effects: bool | None = None,
    ) -> Tool:
        """Describe ``function`` as a tool from its signature and docstring.

        ``side_effects`` defaults to whether the function is marked with
        :func:`side_effect`.

        Raises:
            ConfigurationError: A parameter has no type annotation, or is ``*args``.
        """
        tool_name = name or function.__name__
        hints = get_type_hints(function)
        fields: dict[str, Any] = {}
        context_param: str | None = None
        for param in inspect.signature(function).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                msg = f"Tool {tool_name!r} has *{param.name}; tools take named parameters only."
                raise ConfigurationError(msg)
            annotation = hints.get(param.name)
            if annotation is None:
                msg = f"Tool {tool_name!r} parameter {param.name!r} needs a type annotation."
                raise ConfigurationError(msg)
            if annotation is TaskContext:
                context_param = param.name
                continue
            default = ... if param.default is param.empty else param.default
            fields[param.name] = (annotation, default)
        model = pydantic.create_model(
            f"{tool_name}_arguments",
            __config__=pydantic.ConfigDict(extra="forbid"),
            **fields,
        )
        doc = inspect.getdoc(function) or ""
        description = doc.split("\n\n", 1)[0].replace("\n", " ")
        marked = bool(getattr(function, _SIDE_EFFECTS, False))
        effects = marked if side_effects is None else side_effects
        return cls(tool_name, description, model, function, context_param, effects)

    def schema(self) -> dict[str, Any]:
        """The tool as an entry of the Chat Completions ``tools`` list."""
        return function_schema(self.name, self.description, self.arguments)

    def invoke(
        self,
        arguments: str,
        task: TaskContext,
        idempotency: IdempotencyStore | None = None,
        timeout: float = 60.0,
    ) -> str:
        """Validate the model's JSON ``arguments``, call the function, return JSON text.

        A tool with side effects runs through ``idempotency`` (required for it): once
        per key, the key made of the task and the canonical arguments.

        Args:
            arguments: The model's JSON arguments.
            task: The current task attempt.
            idempotency: Where side effects' results are kept; the task's
                (``task.idempotency``, the agent's store) if ``None``.
            timeout: Seconds to wait for the same call running in another attempt.

        Raises:
            ToolArgumentsError: The arguments are not JSON or fail the schema; the
                message restates pydantic's errors, for sending back to the model.
            TaskError: The same side effect is still running in another attempt.
            NotJSONError: The function returned something that is not text, a JSON value
                or a pydantic model (e.g. a set, a datetime, a NaN), the rule for an
                agent's result too; the message names where and what, never the value.
        """
        try:
            args = self.arguments.model_validate_json(arguments or "{}")
        except pydantic.ValidationError as exc:
            raise invalid_arguments(self.name, exc) from exc
        kwargs = {k: getattr(args, k) for k in type(args).model_fields}
        if self.context_param is not None:
            kwargs[self.context_param] = task
        if not self.side_effects:
            return self._call(kwargs)
        store = idempotency if idempotency is not None else task.idempotency
        if store is None:
            msg = f"Tool {self.name!r} has side effects; give it an IdempotencyStore."
            raise ConfigurationError(msg)
        canonical = canonical_json(args.model_dump(mode="json"))
        parts = (task.workflow_id, task.task_id, self.name, canonical)
        return run_side_effect(store, lambda _key: self._call(kwargs), timeout, parts)

    def _call(self, kwargs: dict[str, Any]) -> str:
        result = self.function(**kwargs)
        if isinstance(result, str):
            return result  # text for the model, as it is
        try:
            value = to_json_value(result)  # the rule for an agent's result, too
        except NotJSONError as exc:
            msg = (
                f"Tool {self.name!r} returned a {type(result).__name__} that cannot travel "
                f"as JSON: {exc}"
            )
            raise NotJSONError(msg) from None
        return pydantic_core.to_json(value).decode()


def invalid_arguments(tool: str, exc: pydantic.ValidationError) -> ToolArgumentsError:
    """The error sent back to a model whose arguments for ``tool`` fail its schema."""
    errors = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
    )
    msg = f"Arguments for tool {tool!r} are invalid: {errors}."
    return ToolArgumentsError(msg, retryable=True)


def function_schema(
    name: str, description: str, arguments: type[pydantic.BaseModel]
) -> dict[str, Any]:
    """A function tool as an entry of the Chat Completions ``tools`` list."""
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": arguments.model_json_schema(),
        },
    }
