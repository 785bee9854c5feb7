"""Errors raised by :mod:`actors`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pykka import ActorDeadError

from bus import ActorchestraError, OperationalError, UsageError

if TYPE_CHECKING:
    from ._orchestration.result import WorkflowResult

__all__ = [
    "ActorDeadError",
    "ActorError",
    "BudgetExceeded",
    "ConfigurationError",
    "LLMOutputError",
    "NotJSONError",
    "PlanValidationError",
    "PlanningError",
    "RestartLimitExceeded",
    "TaskCancelled",
    "TaskError",
    "ToolArgumentsError",
    "WorkflowError",
    "WorkflowTimeout",
]


class ActorError(ActorchestraError):
    """Base class of every error raised by :mod:`actors` (``ActorDeadError`` is Pykka's)."""


class ConfigurationError(ActorError, UsageError, ValueError):
    """A usage mistake: a bad child spec, agent, tool or argument (also a ``ValueError``)."""


class PlanValidationError(ConfigurationError):
    """A plan is not a valid DAG over declared agents.

    Attributes:
        task_id: The offending task (``""`` if the problem is the plan as a whole).
        rule: The rule broken, in words that quote nothing from the plan (a plan a
            model wrote is model text): what telemetry may say of the error.
    """

    def __init__(self, message: str, *, task_id: str = "", rule: str = "") -> None:
        super().__init__(message)
        self.task_id = task_id
        self.rule = rule


class TaskError(ActorError, OperationalError):
    """Raised by an agent's handler to fail its task with a :class:`bus.TaskFailed`.

    Any *other* exception escaping a handler is a crash of the agent: its supervisor
    restarts it and the task is retried.

    Args:
        message: What went wrong.
        retryable: Whether another attempt may succeed.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class TaskCancelled(TaskError):  # noqa: N818 - a condition, as trio's Cancelled
    """The attempt was cancelled (a timeout, a cancelled workflow, a shutdown).

    Raised by :meth:`actors.Cancellation.raise_if_cancelled` and the LLM agent's loop;
    reported as a retryable ``TaskFailed`` (the orchestrator, which cancelled it, has
    moved on and counts it as a late reply).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class ToolArgumentsError(TaskError):
    """A model called a tool with arguments that fail the tool's schema."""


class LLMOutputError(TaskError):
    """A model's output stayed invalid (schema, unknown tool, too many iterations)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message, retryable=retryable)


class NotJSONError(ActorError, UsageError, ValueError):
    """A result is not a JSON value: a set, an object, a NaN or an infinity (JSON has none).

    The message says where in the value and what, never the value itself.
    """


class PlanningError(ActorError, OperationalError):
    """The planner got no valid plan from the model within its attempts."""


class WorkflowError(ActorError, OperationalError):
    """A workflow could not run to its end (its orchestrator crashed or stopped)."""


class WorkflowTimeout(WorkflowError, TimeoutError):  # noqa: N818 - the condition's name
    """:meth:`actors.Team.run` gave up waiting; the workflow was cancelled.

    Also a :class:`TimeoutError`, so ``except TimeoutError`` catches it.

    Attributes:
        workflow_id: The workflow, to look it up in the event log or resume it.
        partial: What it had done when cancelled (tasks that completed keep their
            results), or ``None`` if even the cancellation did not finish in time.
    """

    def __init__(self, message: str, *, workflow_id: str, partial: WorkflowResult | None) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.partial = partial


class BudgetExceeded(WorkflowError):  # noqa: N818 - the condition's name
    """A workflow spent more than its :class:`actors.Budget`; it was stopped.

    Its unfinished tasks were cancelled and its attempts in flight asked to stop.

    Attributes:
        workflow_id: The workflow.
        reason: Which bound it passed, and by how much.
        result: What it did: each task's status, tokens and cost (``usage``,
            ``usage_by_model``, ``cost``; the planner's in ``planning``), and the tasks
            cancelled because of the budget (status ``CANCELLED``).
    """

    def __init__(
        self, message: str, *, workflow_id: str, reason: str, result: WorkflowResult
    ) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.reason = reason
        self.result = result


class RestartLimitExceeded(ActorError, OperationalError):  # noqa: N818 - OTP's name for the condition
    """A supervisor restarted its children more than ``max_restarts`` within ``period``."""
