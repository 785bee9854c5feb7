"""The planner: asks a model for a :class:`Plan` and validates it."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import pydantic
from opentelemetry.trace import SpanKind

from actors._errors import PlanningError, PlanValidationError
from actors._json_value import describe_validation_error
from actors._metrics import Instruments
from actors._orchestration.plan import Plan, Task
from actors._orchestration.result import TaskStatus, WorkflowResult
from bus import Telemetry, TokenUsage

from .cancellation import Cancellation
from .chat import DEFAULT_MODEL_RETRIES, chat
from .client import Client, with_retries
from .endpoints import Endpoints
from .model_settings import ModelSettings

__all__ = ["Planner"]

logger = logging.getLogger(__name__)

SYSTEM_PROMPT = """You are the planner of a team of agents.
Split the user's request into tasks, each run by exactly one of these agents:
{agents}
Reply with only a JSON object matching the Plan schema: "tasks" is a list of
{{"id", "description", "agent", "depends_on", "priority", "max_attempts"}}.
A task lists in "depends_on" the ids of the tasks whose results it needs; tasks with
no dependency between them run in parallel. The plan must be acyclic. A task may list
in "optional" those of its dependencies it can do without (it runs, told which
failed), and may have a "when" condition on one input ({{"input": id, "path":
"key.sub", "op": "eq", "value": ...}}) to run only if it holds."""

REPLAN_PROMPT = """{request}

A plan for this ran, and not all of it completed.
Tasks that completed (their results are kept; a new task gets one by listing its id in
"depends_on"), as JSON:
{completed}
Tasks that did not complete, as JSON:
{undone}
Reply with a plan of only the new tasks for the work that is left, with ids not used
above."""


class Planner:
    """Turns a request into a validated :class:`Plan` with one model.

    The model is asked for JSON against the ``Plan`` schema (``response_format``
    ``json_schema``; on a server that refuses it, ``json_object`` or plain text with the
    schema in the prompt, as :class:`LLMAgent` does). A reply that is not valid JSON,
    fails the schema, names an unknown agent or has a cycle is sent back with the
    error, up to ``max_attempts`` model calls in all.

    Args:
        client: An ``openai.OpenAI`` or ``openai.AsyncOpenAI`` client.
        model: Model name.
        agents: Declared agents: name → what it does (shown to the model).
        max_attempts: Model calls at most (≥ 1).
        max_retries: Retries of each model call by the client, as for
            :class:`LLMAgent` (:data:`actors.DEFAULT_MODEL_RETRIES`, 1); ``None`` keeps
            the client's own.
        telemetry: Where the ``plan`` span and token usage metric go; ``None`` uses the
            global providers.
        settings: Request options of its model calls (see :class:`ModelSettings`;
            ``tool_choice`` and ``parallel_tool_calls`` are not sent: it offers no
            tools); :meth:`plan` and :meth:`replan` take an override per call.
        endpoints: What endpoints accept (see :class:`actors.Endpoints`); the
            process's by default.

    Raises:
        ConfigurationError: ``max_retries`` < 0.
    """

    def __init__(
        self,
        client: Client,
        model: str,
        agents: Mapping[str, str],
        *,
        max_attempts: int = 3,
        max_retries: int | None = DEFAULT_MODEL_RETRIES,
        telemetry: Telemetry | None = None,
        settings: ModelSettings | None = None,
        endpoints: Endpoints | None = None,
    ) -> None:
        self.client = with_retries(client, max_retries)
        self.settings = settings if settings is not None else ModelSettings()
        self.endpoints = endpoints
        self.model = model
        self.agents = dict(agents)
        self.max_attempts = max(1, max_attempts)
        self.usage = TokenUsage()
        self.spent: dict[str, TokenUsage] = {}
        telemetry = telemetry if telemetry is not None else Telemetry()
        self._tracer = telemetry.tracer("actorchestra.planner")
        self._instruments = Instruments.of_telemetry(telemetry)

    def plan(
        self,
        request: str,
        *,
        timeout: float | None = None,
        cancellation: Cancellation | None = None,
        settings: ModelSettings | None = None,
    ) -> Plan:
        """Plan ``request``.

        Args:
            request: What the team should do, in words.
            timeout: Seconds planning may take in all (model calls included); ``None``
                for no limit but the client's per-request timeout.
            cancellation: Stops planning when cancelled (checked before every model
                call; a call in flight is abandoned at once); one with ``timeout`` as
                its deadline by default.
            settings: Options replacing the planner's for this call (those it sets).

        Returns:
            A plan that passed :meth:`Plan.check` against the agents. Tokens spent are
            added to :attr:`usage`; :attr:`spent` holds this call's, by model, for
            ``Team.run(plan, planning=planner.spent)`` to count in the workflow's cost.

        Raises:
            PlanningError: No valid plan within ``max_attempts`` calls; the message
                gives the last validation error.
            TaskError: A model call failed (see :func:`chat`).
            TaskCancelled: ``timeout`` passed or ``cancellation`` was cancelled.
        """
        return self._plan(request, (), timeout, cancellation, settings)

    def replan(
        self,
        request: str,
        plan: Plan,
        result: WorkflowResult,
        *,
        timeout: float | None = None,
        cancellation: Cancellation | None = None,
        settings: ModelSettings | None = None,
    ) -> Plan:
        """Plan the work ``plan`` left undone, keeping what its workflow completed.

        The model is shown the request, each task that completed (id, agent,
        description, result) and each that did not (its status and cause), and is asked
        for new tasks only; the answer is the completed tasks (their dependencies on
        tasks that did not complete dropped, their conditions already decided) followed
        by the new ones, checked as a whole. Used by :class:`actors.Replan`.

        Args:
            request: What the team should do, as first planned.
            plan: The plan that ran.
            result: Its workflow's result.
            timeout: As for :meth:`plan`.
            cancellation: As for :meth:`plan`.
            settings: As for :meth:`plan`.

        Returns:
            The new plan; :attr:`spent` holds what this call spent.

        Raises:
            PlanningError, TaskError, TaskCancelled: As :meth:`plan` raises them.
        """
        done = {t.task_id: t for t in result.tasks if t.status is TaskStatus.COMPLETED}
        kept = tuple(
            task.model_copy(
                update={
                    "depends_on": tuple(d for d in task.depends_on if d in done),
                    "optional": tuple(d for d in task.optional if d in done),
                    "when": None,
                }
            )
            for task in plan.tasks
            if task.id in done
        )
        completed = [
            {
                "id": t.id,
                "agent": t.agent,
                "description": t.description,
                "result": done[t.id].result,
            }
            for t in kept
        ]
        undone = [
            {"id": t.task_id, "agent": t.agent, "status": t.status.value, "error": t.error}
            for t in result.tasks
            if t.task_id not in done
        ]
        prompt = REPLAN_PROMPT.format(
            request=request,
            completed=json.dumps(completed, ensure_ascii=False),
            undone=json.dumps(undone, ensure_ascii=False),
        )
        return self._plan(prompt, kept, timeout, cancellation, settings)

    def _plan(
        self,
        request: str,
        kept: tuple[Task, ...],
        timeout: float | None,
        cancellation: Cancellation | None,
        settings: ModelSettings | None,
    ) -> Plan:
        """Ask for a plan of ``request``; the answer's tasks come after ``kept``."""
        if cancellation is None:
            deadline = None if timeout is None else time.monotonic() + timeout
            cancellation = Cancellation(deadline)
        self.spent = {}
        agents = "\n".join(f"- {name}: {desc or name}" for name, desc in self.agents.items())
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM_PROMPT.format(agents=agents)},
            {"role": "user", "content": request},
        ]
        with self._tracer.start_as_current_span(
            "plan planner",
            kind=SpanKind.INTERNAL,
            attributes={
                "gen_ai.operation.name": "plan",
                "gen_ai.agent.name": "planner",
                "gen_ai.request.model": self.model,
                "actorchestra.plan.replan": bool(kept),
            },
        ) as span:
            problem = ""
            for attempt in range(1, self.max_attempts + 1):
                message, usage = chat(
                    self.client,
                    self._tracer,
                    model=self.model,
                    messages=messages,
                    agent="planner",
                    instruments=self._instruments,
                    cancellation=cancellation,
                    settings=self.settings.merged(settings),
                    output_type=Plan,
                    endpoints=self.endpoints,
                )
                self.usage = self.usage + usage
                self.spent = {self.model: self.spent.get(self.model, TokenUsage()) + usage}
                text = message.content or ""
                try:
                    plan = Plan.model_validate_json(text)
                    if kept:
                        plan = plan.model_copy(update={"tasks": (*kept, *plan.tasks)})
                    plan.check(self.agents)
                except (pydantic.ValidationError, PlanValidationError) as exc:
                    # Telemetry gets fields and kinds of error, never the model's text
                    # (pydantic's message quotes it); the model is shown everything.
                    problem = (
                        describe_validation_error(exc)
                        if isinstance(exc, pydantic.ValidationError)
                        else f"the plan breaks a rule: {exc.rule}"  # its ids are model text
                    )
                    logger.info("Plan attempt %d rejected: %s", attempt, problem)
                    span.add_event("plan_rejected", {"attempt": attempt})
                    messages.append({"role": "assistant", "content": text})
                    messages.append(
                        {
                            "role": "user",
                            "content": f"That plan is invalid: {exc}\nReply with a corrected plan.",
                        }
                    )
                    continue
                span.set_attribute("actorchestra.plan.tasks", len(plan.tasks))
                return plan
            msg = (
                f"The model gave no valid plan in {self.max_attempts} attempts; "
                f"last error: {problem}"
            )
            raise PlanningError(msg)
