"""The LLM agent: a model with tools and structured output, over the OpenAI API."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import openai
import pydantic
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util.types import AttributeValue
from pydantic import BaseModel, JsonValue

from actors._errors import (
    ConfigurationError,
    LLMOutputError,
    NotJSONError,
    TaskError,
    ToolArgumentsError,
)
from actors._json_value import describe_validation_error
from actors._metrics import Instruments
from bus import EventBus, Telemetry
from bus._tracing import record_failure
from memory import IdempotencyStore, MemoryStore, Record

from .agent import Agent, HandoffTo
from .chat import DEFAULT_MODEL_RETRIES, chat, with_retries
from .genai import capture_message_content, provider_name
from .handoff_edge import HandoffEdge, Transfer
from .task_context import TaskContext
from .tool import Tool

__all__ = ["LLMAgent"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_ITERATIONS = 15
WARN_ITERATIONS = 10


class LLMAgent(Agent):
    """An agent whose handler is a model with tools (OpenAI Chat Completions).

    Each task attempt is a tool loop: the model gets the system prompt and the task
    (description, dependency results, handed-over context); each tool call is validated
    against the tool's pydantic schema and run, its result (or the validation error, or
    "unknown tool") sent back; the model's final message is the result. With
    ``output_type`` the final message must be JSON valid against that pydantic model
    (requested with ``response_format``); an invalid one is sent back with the
    validation error. Each model call counts as one iteration: at ``10`` a WARNING is
    logged, past ``max_iterations`` the attempt fails with :class:`LLMOutputError`.
    Token usage of every call is added to the task's ``TaskCompleted``.

    Args:
        name: The agent's name.
        bus: The bus.
        client: An ``openai.OpenAI`` client (any OpenAI-compatible endpoint).
        model: Model name sent with each request.
        system_prompt: The system message.
        tools: Functions (or :class:`Tool`) the model may call.
        output_type: Pydantic model of the final answer; ``None`` for plain text.
        max_iterations: Model calls per attempt, at most (default 15).
        idempotency: Where results of side-effecting tools (:func:`side_effect`) are
            kept, so each runs at most once per key across retries and restarts; the
            in-memory store of the agents on ``bus`` by default.
        memory: Where the agent keeps what it learned: with one, each attempt's prompt
            gets up to ``recall_limit`` facts recalled for the task's description (the
            context slice, not the whole history), and each completed task's result is
            remembered as a fact for later workflows.
        recall_limit: Facts recalled into one prompt, at most.
        max_retries: Retries of each model call by the client (on connection errors,
            timeouts, 429 and 5xx), on top of the orchestrator's task attempts: at most
            ``(1 + max_retries) * max_attempts`` requests per model call of a task (see
            :data:`actors.DEFAULT_MODEL_RETRIES`, 1); ``None`` keeps the client's own.
        telemetry: Where its ``invoke_agent``/``chat``/``execute_tool`` spans and
            token metrics go; ``None`` uses the bus's (``bus.telemetry``).
        description: What it does: the ``invoke_agent`` span's
            ``gen_ai.agent.description``; :meth:`Agent.child_spec` passes the spec's.
        handoffs: Agents it may hand its task over to (:class:`HandoffEdge`, or a bare
            name): the model gets a ``transfer_to_<agent>`` tool for each, and a valid
            call of one ends the attempt with a :class:`bus.Handoff` carrying the
            validated context (calls after it in the same message are not run). The
            team must declare the same edges (``Team(handoffs=...)``).
        context_type: Pydantic model of the context handed over to this agent: it is
            validated (see :meth:`TaskContext.handed_over`; a context that fails it
            fails the attempt, not retried) and shown in the prompt under that name.

    Raises:
        ConfigurationError: ``max_iterations`` < 1, ``max_retries`` < 0, two tools
            (transfer tools included) share a name, or a handoff edge is invalid (see
            :meth:`Transfer.of`).
    """

    takes_description = True

    def __init__(
        self,
        *,
        name: str,
        bus: EventBus,
        client: openai.OpenAI,
        model: str,
        system_prompt: str = "",
        tools: Sequence[Callable[..., Any] | Tool] = (),
        output_type: type[pydantic.BaseModel] | None = None,
        max_iterations: int = DEFAULT_MAX_ITERATIONS,
        idempotency: IdempotencyStore | None = None,
        memory: MemoryStore | None = None,
        recall_limit: int = 5,
        max_retries: int | None = DEFAULT_MODEL_RETRIES,
        telemetry: Telemetry | None = None,
        description: str = "",
        handoffs: Sequence[HandoffEdge | str] = (),
        context_type: type[pydantic.BaseModel] | None = None,
    ) -> None:
        super().__init__(name=name, bus=bus, memory=memory, idempotency=idempotency)
        self.recall_limit = recall_limit
        self.agent_description = description or type(self).description
        if max_iterations < 1:
            msg = f"LLMAgent {name!r} needs max_iterations >= 1, got {max_iterations}."
            raise ConfigurationError(msg)
        self.client = with_retries(client, max_retries)
        self.model = model
        self.system_prompt = system_prompt
        self.output_type = output_type
        self.max_iterations = max_iterations
        self.tools: dict[str, Tool] = {}
        for t in tools:
            tool = t if isinstance(t, Tool) else Tool.from_function(t)
            if tool.name in self.tools:
                msg = f"LLMAgent {name!r} has two tools named {tool.name!r}."
                raise ConfigurationError(msg)
            self.tools[tool.name] = tool
        self.transfers: dict[str, Transfer] = {}
        for edge in handoffs:
            transfer = Transfer.of(edge)
            if transfer.name in self.tools or transfer.name in self.transfers:
                msg = f"LLMAgent {name!r} has two tools named {transfer.name!r}."
                raise ConfigurationError(msg)
            self.transfers[transfer.name] = transfer
        self.context_type = context_type
        telemetry = telemetry if telemetry is not None else bus.telemetry
        self._tracer = telemetry.tracer("actorchestra.llm")
        self._instruments = Instruments.of_telemetry(telemetry)

    def handle(self, task: TaskContext) -> object:
        """Run the tool loop for one task attempt (see the class docstring).

        Raises:
            TaskError: A model call failed (retryable for transport errors).
            TaskCancelled: The attempt was cancelled (checked before every model call
                and tool call; a model call in flight is abandoned at once).
            LLMOutputError: No valid final answer within ``max_iterations``.
        """
        attributes: dict[str, AttributeValue] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.provider.name": provider_name(self.client.base_url.host),
            "gen_ai.agent.name": self.name,
            "gen_ai.request.model": self.model,
            "gen_ai.output.type": "text" if self.output_type is None else "json",
        }
        if self.agent_description:
            attributes["gen_ai.agent.description"] = self.agent_description
        started = time.monotonic()
        error: str | None = None
        with self._tracer.start_as_current_span(
            f"invoke_agent {self.name}", kind=SpanKind.INTERNAL, attributes=attributes
        ) as span:
            facts: list[Record] = []
            if self.memory is not None and self.recall_limit > 0:
                facts = self.recall(task.description or task.task_id, self.recall_limit)
                span.set_attribute("actorchestra.memory.recalled", len(facts))
            try:
                result = self._loop(task, facts)
            except BaseException as exc:
                error = type(exc).__name__
                span.set_attribute("error.type", error)
                raise
            finally:
                self._instruments.agent_duration.record(
                    time.monotonic() - started,
                    {
                        "gen_ai.agent.name": self.name,
                        "gen_ai.request.model": self.model,
                        **({"error.type": error} if error else {}),
                    },
                )
            span.set_attribute("gen_ai.usage.input_tokens", task.usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", task.usage.output_tokens)
            if isinstance(result, HandoffTo):
                span.set_attribute("actorchestra.handoff.to_agent", result.agent)
            elif self.memory is not None:
                value = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
                self.remember(
                    (task.description or task.task_id)[:500],
                    {"result": cast("JsonValue", value), "workflow_id": task.workflow_id},
                )
            return result

    def _loop(self, task: TaskContext, facts: list[Record]) -> object:
        messages: list[dict[str, Any]] = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        if self.context_type is not None and task.handed_over_by:
            task.handed_over(self.context_type)  # raises TaskError if it fails the schema
        messages.append({"role": "user", "content": task_prompt(task, facts, self.context_type)})
        kwargs: dict[str, Any] = {}
        if self.tools or self.transfers:
            offered: list[Tool | Transfer] = [*self.tools.values(), *self.transfers.values()]
            kwargs["tools"] = [tool.schema() for tool in offered]
        if self.output_type is not None:
            kwargs["response_format"] = response_format(self.output_type)
        last_problem = "no answer"
        for iteration in range(1, self.max_iterations + 1):
            if iteration == WARN_ITERATIONS:
                logger.warning(
                    "Agent %r is at model call %d of at most %d for task %s",
                    self.name,
                    iteration,
                    self.max_iterations,
                    task.task_id,
                )
            message, usage = chat(
                self.client,
                self._tracer,
                model=self.model,
                messages=messages,
                agent=self.name,
                instruments=self._instruments,
                cancellation=task.cancellation,
                **kwargs,
            )
            task.add_usage(usage, model=self.model)
            if message.tool_calls:
                messages.append(message.model_dump(mode="json", exclude_none=True))
                for call in message.tool_calls:
                    task.cancellation.raise_if_cancelled()
                    content: str | HandoffTo = (
                        f"error: tool call type {call.type!r} is not supported"
                        if call.type != "function"
                        else self._run_tool(
                            call.function.name, call.function.arguments, task, call.id
                        )
                    )
                    if isinstance(content, HandoffTo):
                        return content  # the attempt ends; later calls are not run
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
                last_problem = "the model was still calling tools"
                continue
            text = message.content or ""
            if self.output_type is None:
                return text
            try:
                return self.output_type.model_validate_json(text)
            except pydantic.ValidationError as exc:
                # What reaches telemetry names fields and kinds of error, never the
                # model's text; the model itself is shown its whole error below.
                last_problem = (
                    f"its answer failed the {self.output_type.__name__} schema: "
                    f"{describe_validation_error(exc)}"
                )
                messages.append({"role": "assistant", "content": text})
                messages.append(
                    {
                        "role": "user",
                        "content": (
                            f"Your answer does not match the {self.output_type.__name__} "
                            f"JSON schema: {exc}. Reply again with only the corrected JSON."
                        ),
                    }
                )
        msg = (
            f"Agent {self.name!r} gave no valid answer to task {task.task_id!r} within "
            f"{self.max_iterations} model calls; last, {last_problem}."
        )
        raise LLMOutputError(msg)

    def _run_tool(
        self, name: str, arguments: str, task: TaskContext, call_id: str
    ) -> str | HandoffTo:
        tool: Tool | Transfer | None = self.tools.get(name) or self.transfers.get(name)
        attributes: dict[str, AttributeValue] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.type": "function",
            "gen_ai.tool.call.id": call_id,
        }
        if tool is not None and tool.description:
            attributes["gen_ai.tool.description"] = tool.description
        started = time.monotonic()
        error: str | None = None
        with self._tracer.start_as_current_span(
            f"execute_tool {name}", kind=SpanKind.INTERNAL, attributes=attributes
        ) as span:
            try:
                if tool is None:
                    error = "UnknownTool"
                    span.set_status(StatusCode.ERROR, f"no tool named {name!r}")
                    span.set_attribute("error.type", error)
                    available = sorted([*self.tools, *self.transfers])
                    return f"error: there is no tool named {name!r}; available: {available}"
                capture = capture_message_content()
                if capture:
                    span.set_attribute("gen_ai.tool.call.arguments", arguments)
                try:
                    if isinstance(tool, Transfer):
                        return tool.invoke(arguments)
                    result = tool.invoke(arguments, task)
                except ToolArgumentsError as exc:
                    error = type(exc).__name__
                    span.set_status(StatusCode.ERROR, error)
                    span.set_attribute("error.type", error)
                    return f"error: {exc}"
                except NotJSONError as exc:  # the tool's code, not the model, must change
                    error = type(exc).__name__
                    record_failure(span, exc)
                    raise TaskError(str(exc), retryable=False) from None
                except Exception as exc:  # the tool's own failure: tell the model
                    error = type(exc).__name__
                    record_failure(span, exc)
                    logger.info("Tool %r of agent %r raised %s", name, self.name, error)
                    return f"error: tool {name!r} raised {error}: {exc}"
                if capture:
                    span.set_attribute("gen_ai.tool.call.result", result)
                return result
            finally:
                self._instruments.tool_duration.record(
                    time.monotonic() - started,
                    {
                        "gen_ai.tool.name": name,
                        "gen_ai.tool.type": "function",
                        "gen_ai.agent.name": self.name,
                        **({"error.type": error} if error else {}),
                    },
                )


def task_prompt(
    task: TaskContext,
    facts: Sequence[Record] = (),
    context_type: type[pydantic.BaseModel] | None = None,
) -> str:
    """The user message: description, facts, dependency results and missing ones, context.

    Handed-over context is introduced by who handed it over and why, and named by
    ``context_type`` when given.
    """
    parts = [f"Task {task.task_id}: {task.description}"]
    if facts:
        recalled = [{"about": f.key, "fact": f.value} for f in facts]
        parts.append(
            "Facts you recorded in earlier workflows, best match first (JSON):\n"
            + json.dumps(recalled, ensure_ascii=False)
        )
    if task.inputs:
        parts.append("Results of the tasks this one depends on (JSON):\n" + json.dumps(task.inputs))
    if task.missing:
        parts.append(
            "Results missing (optional tasks that did not complete; work without them, "
            "and say what is missing) (JSON):\n" + json.dumps(task.missing)
        )
    if task.handed_over_by:
        reason = f" because: {task.handoff_reason}" if task.handoff_reason else ""
        parts.append(f"Agent {task.handed_over_by!r} handed this task over to you{reason}")
    context = task.handed_over()
    if context:
        kind = f" ({context_type.__name__})" if context_type is not None else ""
        parts.append(f"Context handed over to you{kind} (JSON):\n" + json.dumps(context))
    return "\n\n".join(parts)


def response_format(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """The Chat Completions ``response_format`` asking for JSON valid against ``model``."""
    return {
        "type": "json_schema",
        "json_schema": {"name": model.__name__, "schema": model.model_json_schema()},
    }
