"""The review loop: a writer and a reviewer hand a draft back and forth until it passes."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import pydantic
from opentelemetry import trace
from pydantic import BaseModel

from actors._errors import ConfigurationError, NotJSONError, TaskError
from actors._json_value import describe_validation_error, to_json_value
from actors._orchestration.policies import Limits
from actors._supervision.child_spec import ChildSpec
from bus import EventBus

from .agent import Agent, HandoffTo
from .review import Review, ReviewResult, ReviewRound
from .task_context import TaskContext

__all__ = ["ReviewLoop"]

logger = logging.getLogger(__name__)

RoundHandler = Callable[[TaskContext, ReviewRound], object]
"""A writer's or reviewer's work as a function: the task and its round → draft or verdict."""


@dataclass(frozen=True, slots=True)
class ReviewLoop:
    """A writer and a reviewer that pass a task's draft back and forth, at most N rounds.

    The task is planned for the ``writer``. Each round, the writer writes a draft and
    hands the task to the ``reviewer`` with a :class:`ReviewRound` (a
    :class:`bus.Handoff`); the reviewer returns a :class:`Review`. Approved, the task
    completes with a :class:`ReviewResult`; not approved, the reviewer hands the task
    back with its feedback for the next round. When the writer starts the last round
    after a rejection, it is told so (``ReviewRound.last_round``) and a WARNING is
    logged, as an :class:`LLMAgent` warns before ``max_iterations``. The verdict on
    the last round's draft ends the loop either way: unapproved, the task still
    completes, with ``approved=False``, the draft, ``rounds == max_rounds`` and the last
    feedback. Completing, not failing, keeps the work (a failed task's result is lost)
    and lets later tasks decide what an unapproved draft means (they read ``approved``);
    other agent frameworks do the same at their caps (CrewAI's forced final answer,
    LangChain's ``early_stopping_method``).

    Each round is a handoff to the reviewer and, unless it ends the loop, one back,
    along the declared edges :attr:`handoffs`: a ``handoff`` event each on the workflow
    span; the ``process task.started`` span of
    each turn carries ``actorchestra.review.round`` (the reviewer's also
    ``actorchestra.review.approved``). A handoff is not an attempt: a crash retries the
    agent of the round it crashed in, with the same round. Give the team
    ``limits=loop.limits(...)``: it checks that ``Limits.max_handoffs`` and
    ``max_steps`` let every round run (past them the orchestrator would fail the task
    with a ``HandoffError``, or cancel it, before the cap).

    Attributes:
        writer: Name of the writer agent (the task's agent in the plan).
        reviewer: Name of the reviewer agent.
        max_rounds: Most drafts written; 3 by default, which the default
            ``Limits.max_handoffs`` (5) allows (see :meth:`limits`).

    Raises:
        ConfigurationError: ``max_rounds`` < 1, or the writer is the reviewer.

    Example:
        >>> loop = ReviewLoop("writer", "reviewer", max_rounds=4)
        >>> loop.handoffs
        {'writer': ['reviewer'], 'reviewer': ['writer']}
        >>> loop.limits().max_handoffs
        7
    """

    writer: str
    reviewer: str
    max_rounds: int = 3

    def __post_init__(self) -> None:
        if self.max_rounds < 1 or self.writer == self.reviewer:
            msg = (
                f"ReviewLoop({self.writer!r}, {self.reviewer!r}, max_rounds={self.max_rounds}) "
                "is invalid; it needs two agents and max_rounds >= 1."
            )
            raise ConfigurationError(msg)

    @property
    def handoffs(self) -> dict[str, list[str]]:
        """The loop's handoff edges, for ``Team(handoffs=...)``: writer ⇄ reviewer."""
        return {self.writer: [self.reviewer], self.reviewer: [self.writer]}

    def limits(self, limits: Limits | None = None) -> Limits:
        """Team limits under which the loop can run all its rounds.

        A task that runs ``N`` rounds makes ``2N - 1`` handoffs, counted against
        ``Limits.max_handoffs`` (the longest handoff chain per task, see
        ``actors/_orchestration/handoffs.py``; a handoff that led to the writer counts
        too), and ``2N`` dispatches, counted against ``Limits.max_steps`` (per workflow).
        Past either bound the orchestrator would cut the loop short (a failed or
        cancelled task), so the bounds are checked here instead.

        Args:
            limits: The team's limits; ``None`` for the defaults, with ``max_handoffs``
                raised to what this loop needs.

        Returns:
            ``limits`` (checked), or the defaults that fit.

        Raises:
            ConfigurationError: ``limits.max_handoffs`` < ``2 * max_rounds - 1``, or
                ``limits.max_steps`` < ``2 * max_rounds``.
        """
        handoffs, steps = 2 * self.max_rounds - 1, 2 * self.max_rounds
        if limits is None:
            return Limits(max_handoffs=max(handoffs, Limits().max_handoffs))
        short = []
        if limits.max_handoffs < handoffs:
            short.append(f"max_handoffs >= {handoffs}, got {limits.max_handoffs}")
        if limits.max_steps is not None and limits.max_steps < steps:
            short.append(f"max_steps >= {steps}, got {limits.max_steps}")
        if short:
            msg = (
                f"ReviewLoop {self.writer!r} <-> {self.reviewer!r} of max_rounds="
                f"{self.max_rounds} needs Limits {' and '.join(short)}; raise the limits "
                "or lower max_rounds."
            )
            raise ConfigurationError(msg)
        return limits

    def writer_spec(
        self,
        bus: EventBus,
        write: RoundHandler | type[Agent],
        /,
        **kwargs: Any,  # noqa: ANN401 - passed on to Agent.child_spec
    ) -> ChildSpec:
        """The child spec of the writer agent, named :attr:`writer`.

        Args:
            bus: The bus.
            write: The writing: a function ``(task, round) -> draft`` (a JSON value or
                a pydantic model; it runs in the agent's thread and may block or raise
                :class:`TaskError`), or an :class:`Agent` class whose ``handle`` returns
                the draft, such as :class:`LLMAgent` (given ``context_type=ReviewRound``
                unless set). Its :class:`TaskContext` holds the round in every round
                (``task.handed_over(ReviewRound)``). A :class:`HandoffTo` it returns
                leaves the loop (along a declared edge).
            **kwargs: More arguments for :meth:`Agent.child_spec` and the constructor.

        Raises:
            ConfigurationError: ``write`` is neither an :class:`Agent` class nor a function.
        """
        return _spec(self, bus, _Writer, write, kwargs, defaults={"context_type": ReviewRound})

    def reviewer_spec(
        self,
        bus: EventBus,
        review: RoundHandler | type[Agent],
        /,
        **kwargs: Any,  # noqa: ANN401 - passed on to Agent.child_spec
    ) -> ChildSpec:
        """The child spec of the reviewer agent, named :attr:`reviewer`.

        Args:
            bus: The bus.
            review: The reviewing: a function ``(task, round) -> Review``, or an
                :class:`Agent` class whose ``handle`` returns one (a :class:`Review`,
                or a dict or JSON text valid against it), such as :class:`LLMAgent`
                (given ``output_type=Review`` and ``context_type=ReviewRound`` unless
                set). ``round.draft`` is the draft to review.
            **kwargs: More arguments for :meth:`Agent.child_spec` and the constructor.

        Raises:
            ConfigurationError: ``review`` is neither an :class:`Agent` class nor a function.
        """
        defaults: dict[str, type[BaseModel]] = {"context_type": ReviewRound, "output_type": Review}
        return _spec(self, bus, _Reviewer, review, kwargs, defaults=defaults)


class _LoopAgent(Agent):
    """An agent of a :class:`ReviewLoop` (the classes :func:`_spec` makes derive from it)."""

    review_loop: ClassVar[ReviewLoop]

    def _mark(self, current: ReviewRound, **attributes: bool) -> None:
        span = trace.get_current_span()
        span.set_attribute("actorchestra.review.round", current.round)
        span.set_attribute("actorchestra.review.max_rounds", current.max_rounds)
        for key, value in attributes.items():
            span.set_attribute(f"actorchestra.review.{key}", value)


class _Writer(_LoopAgent):
    def handle(self, task: TaskContext) -> object:
        """Write this round's draft and hand it to the reviewer (the agent's thread)."""
        loop = self.review_loop
        if task.handed_over_by == loop.reviewer:
            current = task.handed_over(ReviewRound)
        else:
            current = ReviewRound(round=1, max_rounds=loop.max_rounds)
            current = current.model_copy(update={"last_round": loop.max_rounds == 1})
            task.context = {**task.context, **current.model_dump(mode="json")}
        if current.last_round and current.round > 1:
            logger.warning(
                "Review loop task %s: writer %r starts round %d, the last of max_rounds=%d; "
                "the verdict on this draft ends the loop",
                task.task_id,
                self.name,
                current.round,
                loop.max_rounds,
            )
        self._mark(current)
        draft = super().handle(task)
        if isinstance(draft, HandoffTo):
            return draft
        try:
            value = to_json_value(draft)
        except NotJSONError as exc:
            msg = (
                f"Writer {self.name!r} returned a {type(draft).__name__} draft that cannot "
                f"travel as JSON: {exc}"
            )
            raise TaskError(msg, retryable=False) from None
        handed = current.model_copy(update={"draft": value}).model_dump(mode="json")
        reason = f"draft {current.round} of at most {loop.max_rounds}"
        return HandoffTo(loop.reviewer, reason=reason, context=handed)


class _Reviewer(_LoopAgent):
    def handle(self, task: TaskContext) -> object:
        """Review the draft: finish the task, or hand it back (the agent's thread)."""
        loop = self.review_loop
        if task.handed_over_by != loop.writer:
            msg = (
                f"Reviewer {self.name!r} got task {task.task_id!r} from "
                f"{task.handed_over_by or 'the plan'}; it reviews only drafts its writer "
                f"{loop.writer!r} hands over, so plan the task for the writer."
            )
            raise TaskError(msg, retryable=False)
        current = task.handed_over(ReviewRound)
        verdict = super().handle(task)
        if isinstance(verdict, HandoffTo):
            return verdict
        review = self._as_review(verdict)
        self._mark(current, approved=review.approved)
        if review.approved or current.round >= loop.max_rounds:
            if not review.approved:
                logger.info(
                    "Review loop task %s ended unapproved after max_rounds=%d",
                    task.task_id,
                    loop.max_rounds,
                )
            return ReviewResult(
                draft=current.draft,
                approved=review.approved,
                rounds=current.round,
                feedback=review.feedback,
            )
        following = current.round + 1
        handed = ReviewRound(
            round=following,
            max_rounds=loop.max_rounds,
            last_round=following == loop.max_rounds,
            draft=current.draft,
            feedback=review.feedback,
        )
        reason = f"revise: round {following} of at most {loop.max_rounds}"
        return HandoffTo(loop.writer, reason=reason, context=handed.model_dump(mode="json"))

    def _as_review(self, verdict: object) -> Review:
        if isinstance(verdict, Review):
            return verdict
        try:
            if isinstance(verdict, str):
                return Review.model_validate_json(verdict)
            if isinstance(verdict, BaseModel):
                verdict = verdict.model_dump()
            return Review.model_validate(verdict)
        except pydantic.ValidationError as exc:
            msg = (
                f"Reviewer {self.name!r} returned a {type(verdict).__name__} that is not a "
                f"Review: {describe_validation_error(exc)}"
            )
            raise TaskError(msg, retryable=False) from None


class _Call(Agent):
    """An agent whose work is a function of the task and its :class:`ReviewRound`."""

    call: ClassVar[RoundHandler]

    def handle(self, task: TaskContext) -> object:
        """Call the function with the round handed over (the agent's thread)."""
        return type(self).call(task, task.handed_over(ReviewRound))


def _spec(
    loop: ReviewLoop,
    bus: EventBus,
    role: type[_LoopAgent],
    work: RoundHandler | type[Agent],
    kwargs: dict[str, Any],
    *,
    defaults: dict[str, type[BaseModel]],
) -> ChildSpec:
    """The child spec of ``loop``'s ``role`` agent doing ``work``, a function or a class."""
    name = loop.writer if role is _Writer else loop.reviewer
    if not callable(work) or (isinstance(work, type) and not issubclass(work, Agent)):
        msg = f"ReviewLoop agent {name!r} needs an Agent class or a function, got {work!r}."
        raise ConfigurationError(msg)
    namespace: dict[str, Any] = {
        "review_loop": loop,
        "__module__": getattr(work, "__module__", __name__),
    }
    if isinstance(work, type):
        base: type[Agent] = work
        takes = inspect.signature(work).parameters
        for key, value in defaults.items():
            if key in takes:
                kwargs.setdefault(key, value)
    else:
        base = _Call
        namespace["call"] = staticmethod(work)
    title = getattr(work, "__name__", type(work).__name__)
    cls = cast("type[Agent]", type(f"{title}{role.__name__}", (role, base), namespace))
    return cls.child_spec(name, bus, **kwargs)
