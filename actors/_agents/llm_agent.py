"""The LLM agent: a model with tools and structured output, over the OpenAI API."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

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
from actors._json_value import check_finite, describe_validation_error
from actors._metrics import Instruments
from bus import EventBus, Telemetry
from bus._tracing import record_failure
from memory import IdempotencyStore, MemoryStore, Record

from .agent import Agent, HandoffTo
from .chat import DEFAULT_MODEL_RETRIES, chat
from .client import Client, with_retries
from .endpoints import Endpoints
from .genai import capture_message_content, provider_name
from .handoff_edge import HandoffEdge, Transfer
from .model_settings import ModelSettings, TaskSettings, settings_for
from .progress import ProgressStream
from .prompt import echo_tool_calls, task_prompt
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
        client: An ``openai.OpenAI`` or ``openai.AsyncOpenAI`` client (any
            OpenAI-compatible endpoint; an async one is called through its synchronous
            twin, from the agent's thread).
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
        settings: Request options of its model calls (``max_tokens``, ``temperature``,
            ``tool_choice``, ... see :class:`ModelSettings`). A ``tool_choice`` that
            forces a tool call (``"required"``, a tool's name) holds for the first call
            of an attempt; later calls use ``"auto"``, so the loop can end.
        task_settings: Overrides of ``settings`` for some tasks: by task id, or a
            function of the :class:`TaskContext` (runs in the agent's thread at the
            start of each attempt); the options an override sets replace the agent's.
        stream: Stream each model answer, publishing its text as it arrives as
            :class:`bus.TaskProgress` events (before the attempt's outcome); results,
            tool calls and token usage are as unstreamed.
        progress_interval: With ``stream``, seconds between two progress events of an
            attempt, at least (text is gathered in between; ``0``: one per chunk).
        endpoints: What endpoints accept, for structured output (see
            :class:`actors.Endpoints`); the process's by default. With
            ``output_type`` the agent asks for ``json_schema``; a server that refuses
            it is asked with ``json_object`` and the schema in the prompt, then with
            plain text; a server that refuses tools gets them in the prompt (see
            :func:`~actors._agents.chat.chat`); each learned once per base URL.

    Raises:
        ConfigurationError: ``max_iterations`` < 1, ``max_retries`` < 0, two tools
            (transfer tools included) share a name, a handoff edge is invalid (see
            :meth:`Transfer.of`), ``settings.tool_choice`` names no tool of the agent,
            or ``progress_interval`` < 0.
    """

    takes_description = True

    def __init__(
        self,
        *,
        name: str,
        bus: EventBus,
        client: Client,
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
        settings: ModelSettings | None = None,
        task_settings: TaskSettings | None = None,
        stream: bool = False,
        progress_interval: float = 0.1,
        endpoints: Endpoints | None = None,
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
        self.settings = settings if settings is not None else ModelSettings()
        self.settings.check_tools(f"LLMAgent {name!r}", [*self.tools, *self.transfers])
        self.task_settings = task_settings
        if progress_interval < 0:
            msg = f"LLMAgent {name!r} needs progress_interval >= 0, got {progress_interval}."
            raise ConfigurationError(msg)
        self.stream = stream
        self.progress_interval = progress_interval
        self.endpoints = endpoints
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
        settings = settings_for(
            self.settings, self.task_settings, task, f"LLMAgent {self.name!r}", kwargs
        )
        progress = (
            ProgressStream(self._bus, self.name, task, self.progress_interval)
            if self.stream
            else None
        )
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
            if progress is not None:
                progress.model_call = iteration
            try:
                message, usage = chat(
                    self.client,
                    self._tracer,
                    model=self.model,
                    messages=messages,
                    agent=self.name,
                    instruments=self._instruments,
                    cancellation=task.cancellation,
                    settings=settings,
                    output_type=self.output_type,
                    endpoints=self.endpoints,
                    stream=self.stream,
                    on_delta=None if progress is None else progress.delta,
                    **kwargs,
                )
            finally:
                if progress is not None:
                    progress.flush()
            task.add_usage(usage, model=self.model)
            if message.tool_calls:
                messages.append(echo_tool_calls(message))
                if settings.tool_choice not in (None, "auto", "none"):
                    settings = settings.merged(ModelSettings(tool_choice="auto"))
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
                answer = self.output_type.model_validate_json(text)
                check_finite(answer)  # 1e999 parses, to an infinity no result can carry
                return answer
            except (pydantic.ValidationError, NotJSONError) as exc:
                # What reaches telemetry names fields and kinds of error, never the
                # model's text; the model itself is shown its whole error below.
                problem = exc if isinstance(exc, NotJSONError) else describe_validation_error(exc)
                last_problem = (
                    f"its answer failed the {self.output_type.__name__} schema: {problem}"
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
