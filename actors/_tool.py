"""Tools: typed Python functions a model may call, with pydantic-validated arguments."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_type_hints

import pydantic
import pydantic_core

from ._agent import TaskContext
from ._errors import ConfigurationError, ToolArgumentsError

__all__ = ["Tool"]


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
    """

    name: str
    description: str
    arguments: type[pydantic.BaseModel]
    function: Callable[..., Any]
    context_param: str | None = None

    @classmethod
    def from_function(cls, function: Callable[..., Any], *, name: str | None = None) -> Tool:
        """Describe ``function`` as a tool from its signature and docstring.

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
        return cls(tool_name, description, model, function, context_param)

    def schema(self) -> dict[str, Any]:
        """The tool as an entry of the Chat Completions ``tools`` list."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.arguments.model_json_schema(),
            },
        }

    def invoke(self, arguments: str, task: TaskContext) -> str:
        """Validate the model's JSON ``arguments``, call the function, return JSON text.

        Raises:
            ToolArgumentsError: The arguments are not JSON or fail the schema; the
                message restates pydantic's errors, for sending back to the model.
        """
        try:
            args = self.arguments.model_validate_json(arguments or "{}")
        except pydantic.ValidationError as exc:
            errors = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors()
            )
            msg = f"Arguments for tool {self.name!r} are invalid: {errors}."
            raise ToolArgumentsError(msg, retryable=True) from exc
        kwargs = {k: getattr(args, k) for k in type(args).model_fields}
        if self.context_param is not None:
            kwargs[self.context_param] = task
        result = self.function(**kwargs)
        if isinstance(result, str):
            return result
        if isinstance(result, pydantic.BaseModel):
            return result.model_dump_json()
        try:
            return pydantic_core.to_json(result).decode()
        except pydantic_core.PydanticSerializationError:
            return json.dumps(str(result))
