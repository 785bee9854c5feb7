"""The planner: asks a model for a :class:`Plan` and validates it."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import openai
import pydantic
from opentelemetry.trace import SpanKind

from actors._errors import PlanningError, PlanValidationError
from actors._json_value import describe_validation_error
from actors._metrics import Instruments
from actors._orchestration.plan import Plan
from bus import Telemetry, TokenUsage

from .cancellation import Cancellation
from .chat import DEFAULT_MODEL_RETRIES, chat, with_retries
from .llm_agent import response_format

__all__ = ["Planner"]

logger = logging.getLogger(__name__)

SYSTEM_PROMPT = """You are the planner of a team of agents.
Split the user's request into tasks, each run by exactly one of these agents:
{agents}
Reply with only a JSON object matching the Plan schema: "tasks" is a list of
{{"id", "description", "agent", "depends_on", "priority", "max_attempts"}}.
A task lists in "depends_on" the ids of the tasks whose results it needs; tasks with
no dependency between them run in parallel. The plan must be acyclic."""


class Planner:
    """Turns a request into a validated :class:`Plan` with one model.

    The model is asked for JSON against the ``Plan`` schema (``response_format``). A
    reply that is not valid JSON, fails the schema, names an unknown agent or has a
    cycle is sent back with the error, up to ``max_attempts`` model calls in all.

    Args:
        client: An ``openai.OpenAI`` client.
        model: Model name.
        agents: Declared agents: name → what it does (shown to the model).
        max_attempts: Model calls at most (≥ 1).
        max_retries: Retries of each model call by the client, as for
            :class:`LLMAgent` (:data:`actors.DEFAULT_MODEL_RETRIES`, 1); ``None`` keeps
            the client's own.
        telemetry: Where the ``plan`` span and token usage metric go; ``None`` uses the
            global providers.

    Raises:
        ConfigurationError: ``max_retries`` < 0.
    """

    def __init__(
        self,
        client: openai.OpenAI,
        model: str,
        agents: Mapping[str, str],
        *,
        max_attempts: int = 3,
        max_retries: int | None = DEFAULT_MODEL_RETRIES,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.client = with_retries(client, max_retries)
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
    ) -> Plan:
        """Plan ``request``.

        Args:
            request: What the team should do, in words.
            timeout: Seconds planning may take in all (model calls included); ``None``
                for no limit but the client's per-request timeout.
            cancellation: Stops planning when cancelled (checked before every model
                call; a call in flight is abandoned at once); one with ``timeout`` as
                its deadline by default.

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
                    response_format=response_format(Plan),
                )
                self.usage = self.usage + usage
                self.spent = {self.model: self.spent.get(self.model, TokenUsage()) + usage}
                text = message.content or ""
                try:
                    plan = Plan.model_validate_json(text)
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
