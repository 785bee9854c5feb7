"""The task context: what an agent's handler gets for one task attempt."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar, overload

import pydantic
from pydantic import JsonValue

from actors._errors import ConfigurationError, TaskError
from actors._json_value import describe_validation_error
from actors._orchestration.handoffs import HANDOFF_FROM, HANDOFF_REASON
from bus import TokenUsage
from memory import IdempotencyStore

from .cancellation import Cancellation
from .idempotency_keys import canonical_json, run_side_effect

__all__ = ["TaskContext"]

M = TypeVar("M", bound=pydantic.BaseModel)
_HANDOFF_KEYS = frozenset((HANDOFF_FROM, HANDOFF_REASON))


@dataclass(slots=True)
class TaskContext:
    """What an agent's handler gets for one task attempt.

    Attributes:
        workflow_id: The workflow.
        task_id: The task.
        attempt: 1-based attempt number.
        description: What to do.
        inputs: Results of the task's dependencies, by task id.
        context: Extra context: what another agent handed over (see
            :attr:`handed_over_by`, :meth:`handed_over`), with the orchestrator's
            ``handoff_from`` and ``handoff_reason`` keys.
        missing: Optional dependencies that did not complete (absent from ``inputs``),
            by task id: their status and cause, e.g. ``"failed: TaskError: feed down"``.
        usage: Tokens spent so far in this attempt; add with :meth:`add_usage`.
        model: The model they were spent on, as :meth:`add_usage` was told (``None``:
            none yet; ``""``: unknown, or more than one); the outcome reports it.
        idempotency: Where :meth:`run_once` keeps side effects' results (the agent's).
        cancellation: Set when the attempt should stop (timed out, its workflow
            cancelled, the team stopping): check it between steps, wait on it instead of
            sleeping (see :class:`Cancellation`).
        replica: Which replica of a replicated attempt this is (1, 2, ...; see
            :class:`actors.Redundancy`), 0 if the attempt is not replicated: e.g. a seed
            or temperature per replica, so a vote sees different samples.
    """

    workflow_id: str
    task_id: str
    attempt: int
    description: str
    inputs: dict[str, JsonValue]
    context: dict[str, JsonValue]
    missing: dict[str, str] = field(default_factory=dict)
    usage: TokenUsage = field(default_factory=TokenUsage)
    idempotency: IdempotencyStore | None = None
    cancellation: Cancellation = field(default_factory=Cancellation)
    model: str | None = None
    replica: int = 0

    def add_usage(self, usage: TokenUsage, *, model: str = "") -> None:
        """Add tokens spent by a model call to this attempt's total.

        Args:
            usage: The call's tokens.
            model: The model called (its request name, as :class:`actors.Prices` knows
                it); ``""`` if not known. An attempt that used two models reports ``""``.
        """
        self.usage = self.usage + usage
        self.model = model if self.model in (None, model) else ""

    def run_once(
        self,
        name: str,
        call: Callable[[str], str],
        arguments: JsonValue = None,
        *,
        timeout: float = 60.0,
    ) -> str:
        """Run a side effect at most once per idempotency key, across retries and resumes.

        The key is :func:`idempotency_key` of this workflow and task, ``name`` and the
        canonical JSON of ``arguments``; ``call`` gets it (to pass on to a service that
        deduplicates by key) and returns JSON text, which is stored: a later attempt
        gets the stored text back without calling.

        Raises:
            ConfigurationError: The task has no idempotency store.
            TaskError: (retryable) The same call is still running in another attempt
                after ``timeout`` seconds. What ``call`` raises propagates.
        """
        if self.idempotency is None:
            msg = f"Task {self.task_id!r} has no IdempotencyStore for side effect {name!r}."
            raise ConfigurationError(msg)
        parts = (self.workflow_id, self.task_id, name, canonical_json(arguments))
        return run_side_effect(self.idempotency, call, timeout, parts)

    @property
    def handed_over_by(self) -> str:
        """The agent that handed this task over to this one; ``""`` if none did."""
        value = self.context.get(HANDOFF_FROM, "")
        return value if isinstance(value, str) else ""

    @property
    def handoff_reason(self) -> str:
        """Why it was handed over, in the sender's words; ``""`` if it was not."""
        value = self.context.get(HANDOFF_REASON, "")
        return value if isinstance(value, str) else ""

    @overload
    def handed_over(self, model: None = None) -> dict[str, JsonValue]: ...
    @overload
    def handed_over(self, model: type[M]) -> M: ...
    def handed_over(self, model: type[M] | None = None) -> M | dict[str, JsonValue]:
        """The context handed over to this task, as a dict or validated against ``model``.

        The orchestrator's own keys (``handoff_from``, ``handoff_reason``) are left out;
        what remains is what the sender handed over (for an LLM agent's
        ``transfer_to_<agent>`` tool, the edge's context model, dumped as JSON).

        Args:
            model: The pydantic model the context should be (e.g. the ``context`` of the
                sender's :class:`HandoffEdge`); ``None`` for the plain dict.

        Raises:
            TaskError: (not retryable) The context fails ``model``; the message names
                the fields and kinds of error, never the values.

        Example:
            >>> from pydantic import BaseModel
            >>> class Billing(BaseModel):
            ...     invoice: str
            >>> task = TaskContext("w", "t", 1, "refund", {}, {"invoice": "A-1",
            ...     "handoff_from": "triage", "handoff_reason": "a refund"})
            >>> task.handed_over(Billing), task.handed_over_by
            (Billing(invoice='A-1'), 'triage')
        """
        context = {k: v for k, v in self.context.items() if k not in _HANDOFF_KEYS}
        if model is None:
            return context
        try:
            return model.model_validate(context)
        except pydantic.ValidationError as exc:
            msg = (
                f"Task {self.task_id!r} was handed context that fails the "
                f"{model.__name__} schema: {describe_validation_error(exc)}"
            )
            raise TaskError(msg, retryable=False) from None
