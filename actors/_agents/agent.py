"""The agent: an actor that turns each ``TaskStarted`` into exactly one outcome event."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import JsonValue

from actors._actor import Actor
from actors._errors import ConfigurationError, NotJSONError, TaskError
from actors._json_value import to_json_value
from actors._orchestration.plan import Plan
from actors._supervision.child_spec import ChildSpec, RestartPolicy
from bus import (
    BusClosedError,
    CallForProposals,
    CancelRequested,
    Delegated,
    Event,
    EventBus,
    EventValidationError,
    Handoff,
    TaskCompleted,
    TaskFailed,
    TaskStarted,
)
from memory import IdempotencyStore, MemoryStore, Record, Scope, workflow_namespace

from .attempt_slot import AttemptSlot
from .cancellation import Cancellation
from .idempotency_keys import (
    default_idempotency_store,
)
from .offer import Offer, answer
from .task_context import TaskContext

__all__ = ["Agent", "Delegate", "HandoffTo"]

logger = logging.getLogger(__name__)

_DROPPED_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class HandoffTo:
    """Return this from :meth:`Agent.handle` to hand the task to another agent.

    Attributes:
        agent: Name of the agent to take over; the handoff must be declared.
        reason: Why, in words.
        context: The slice of context to hand over (JSON values).
    """

    agent: str
    reason: str = ""
    context: dict[str, JsonValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delegate:
    """Return this from :meth:`Agent.handle` to run ``plan`` as a child workflow of the task.

    The agent publishes a :class:`bus.Delegated` and is free at once (its thread does
    not wait for the sub-plan, so the sub-plan may name this agent too). The task
    stays running while its child workflow runs, and ends with it: completed with the
    child's ``answer``, or failed with its cause (retried, within ``max_attempts``,
    by running this agent again). Cancelling the task's workflow, the task's timeout
    and ``Limits.max_steps`` reach the child; an invalid sub-plan, or one nested
    deeper than ``Limits.max_delegation_depth``, fails the task (not retried). A retry
    delegates to a new child workflow (id ``<workflow>/<task>.<attempt>``): idempotency
    keys include the workflow id, so the new child's side effects are not deduplicated
    against the failed child's (a resume, though, continues the same child).

    Attributes:
        plan: The sub-plan, over the team's agents.
        reason: Why, in words.

    Example:
        >>> from actors import Plan, Task
        >>> class Lead(Agent):
        ...     def handle(self, task: TaskContext) -> object:
        ...         parts = [Task(id=p, agent="writer", description=p) for p in ("a", "b")]
        ...         return Delegate(Plan(tasks=parts), reason="two parts")
    """

    plan: Plan
    reason: str = ""


class Agent(Actor):
    """Base class of agents: override :meth:`handle`.

    On each :class:`bus.TaskStarted` addressed to its name, the agent calls
    :meth:`handle` and publishes exactly one of:

    * :class:`bus.TaskCompleted` with the returned value (a JSON value or a pydantic
      model) and the attempt's token usage;
    * :class:`bus.Handoff` when ``handle`` returns a :class:`HandoffTo`;
    * :class:`bus.Delegated` when ``handle`` returns a :class:`Delegate`;
    * :class:`bus.TaskFailed` when ``handle`` raises :class:`TaskError`, or returns
      something that is not JSON.

    Each outcome carries the attempt's token (``attempt_token``) from its
    ``TaskStarted``: the orchestrator applies only outcomes with the token it issued
    (``shared/DESIGN.md``, invariant 4). The handler never sees the token; a
    ``CancelRequested`` stops the attempt only if it carries the same token.

    Any other exception is a crash ("let it crash"): the supervisor restarts the agent
    and reports the task as failed and retryable, so the orchestrator retries it.

    Args:
        name: The agent's stable name; plans address it by this name.
        bus: The bus it receives tasks from and publishes outcomes to.
        memory: Where :meth:`remember` and :meth:`recall` keep facts (namespace: the
            agent's name); ``None`` for an agent that remembers nothing.
        idempotency: Where side effects' results are kept (:meth:`TaskContext.run_once`,
            tools marked :func:`side_effect`); by default an in-memory store shared by
            the agents on ``bus`` (one per team), a
            :class:`memory.SQLiteIdempotencyStore` for workflows that must resume.

    Example:
        >>> class Echo(Agent):
        ...     def handle(self, task: TaskContext) -> str:
        ...         return task.description
    """

    description: ClassVar[str] = ""
    """What the agent can do, in words; the planner shows it to the model."""

    takes_description: ClassVar[bool] = False
    """Whether the constructor takes ``description=`` (:meth:`child_spec` passes its own)."""

    dropped_late: ClassVar[int] = 0
    """Outcomes of attempts that ended after their bus stopped (abandoned by a shutdown),
    dropped, in this process; the first one is logged at WARNING."""

    def __init__(
        self,
        *,
        name: str,
        bus: EventBus,
        memory: MemoryStore | None = None,
        idempotency: IdempotencyStore | None = None,
    ) -> None:
        super().__init__(name=name, bus=bus)
        self._bus = bus
        self.memory = memory
        self.idempotency: IdempotencyStore = (
            idempotency if idempotency is not None else default_idempotency_store(bus)
        )
        bus.subscribe(TaskStarted, name, recipient=name)
        bus.subscribe(CallForProposals, name, recipient=name)
        # Cancellation bypasses the mailbox, which is busy with the attempt to cancel.
        self._attempt = AttemptSlot()
        self.own(bus.subscribe(CancelRequested, self._cancel_requested, recipient=name))

    def remember(self, key: str, value: JsonValue) -> Record:
        """Keep a long-term fact under this agent's name, for later workflows.

        Raises:
            ConfigurationError: The agent has no memory store.
            memory.MemoryStoreError: The store failed.
        """
        return self._memory().put(self.name, key, value)

    def note(self, task: TaskContext, key: str, value: JsonValue) -> Record:
        """Keep a short-term fact for the rest of ``task``'s workflow (any agent reads it).

        It lives in namespace ``workflow:<id>`` and is discarded when the workflow ends
        (by an orchestrator given the same store) unless promoted: written again there
        with ``scope=Scope.LONG_TERM``.

        Raises:
            ConfigurationError: The agent has no memory store.
        """
        namespace = workflow_namespace(task.workflow_id)
        return self._memory().put(namespace, key, value, scope=Scope.SHORT_TERM)

    def notes(self, task: TaskContext) -> list[Record]:
        """The facts noted so far in ``task``'s workflow, newest first."""
        return self._memory().records(workflow_namespace(task.workflow_id))

    def recall(self, query: str, limit: int = 5) -> list[Record]:
        """Facts this agent kept that share words with ``query``; best matches first.

        At most ``limit`` records (see :meth:`memory.MemoryStore.search`, ``match="any"``).

        Raises:
            ConfigurationError: The agent has no memory store.
        """
        return self._memory().search(self.name, query, limit, match="any")

    def _memory(self) -> MemoryStore:
        if self.memory is None:
            msg = f"Agent {self.name!r} has no memory store; pass memory=... to remember."
            raise ConfigurationError(msg)
        return self.memory

    @classmethod
    def child_spec(
        cls,
        name: str,
        bus: EventBus,
        *,
        restart: RestartPolicy = RestartPolicy.PERMANENT,
        shutdown_timeout: float = 5.0,
        description: str | None = None,
        capabilities: Collection[str] = (),
        **kwargs: Any,  # noqa: ANN401 - passed on to the constructor
    ) -> ChildSpec:
        """A child spec that starts this agent under ``name`` on ``bus``.

        Args:
            name: Child id and agent name.
            bus: The bus.
            restart: OTP restart type.
            shutdown_timeout: Seconds the supervisor waits for it to stop.
            description: What it does (for the planner); the class's by default.
            capabilities: Capabilities a task may name instead of this agent.
            **kwargs: More constructor arguments.
        """
        text = cls.description if description is None else description
        if cls.takes_description:
            kwargs["description"] = text
        return ChildSpec(
            id=name,
            start=lambda: cls.start(name=name, bus=bus, **kwargs),
            restart=restart,
            shutdown_timeout=shutdown_timeout,
            description=text,
            capabilities=frozenset(capabilities),
        )

    def handle(self, task: TaskContext) -> object:
        """Run one task attempt. Runs in this agent's thread and may block.

        Args:
            task: The task, its dependencies' results and the attempt's context.

        Returns:
            The result (JSON value or pydantic model), a :class:`HandoffTo` or a
            :class:`Delegate`.

        Raises:
            TaskError: To fail the attempt with a ``TaskFailed`` event.
        """
        raise NotImplementedError

    def bid(self, cfp: CallForProposals) -> Offer | None:
        """Offer to run a contract-net call's attempt, or decline (``None``, the default).

        Runs in this agent's thread, between its attempts (so a busy agent answers
        late, and a bid after the call's ``deadline`` is ignored). It may block, only
        as long as that; an exception it raises crashes the agent (its supervisor
        restarts it) and it does not bid.

        Args:
            cfp: The call: the task's description, the deadline (seconds), the number
                of candidates, and this agent's attempts in flight (``load``).

        Returns:
            An :class:`Offer` (its ``cost``, ``duration``, ``confidence``), or ``None``.
        """
        return None

    def on_event(self, event: Event) -> None:
        """Run a ``TaskStarted``'s task; answer a ``CallForProposals``; ignore the rest."""
        if isinstance(event, TaskStarted):
            self._run(event)
        elif isinstance(event, CallForProposals):
            self._bus.publish(answer(self.name, event, self.bid(event)))

    def _cancel_requested(self, event: CancelRequested) -> None:
        """Cancel the attempt named by ``event``, running or still queued (publisher's thread).

        Only a request with the attempt's token cancels it (the orchestrator's).
        """
        key = (event.workflow_id, event.task_id, event.attempt)
        self._attempt.cancel(key, event.attempt_token, event.reason or "cancelled")

    def _run(self, started: TaskStarted) -> None:
        # From when this agent starts it: the orchestrator's clock, from when it sent the
        # attempt, runs out first and cancels it (CancelRequested); this is the backstop.
        timeout = started.timeout
        cancellation = Cancellation(None if timeout is None else time.monotonic() + timeout)
        key = (started.workflow_id, started.task_id, started.attempt)
        self._attempt.start(key, started.attempt_token, cancellation)
        try:
            self._run_attempt(started, cancellation)
        finally:
            self._attempt.finish()

    def _run_attempt(self, started: TaskStarted, cancellation: Cancellation) -> None:
        task = TaskContext(
            workflow_id=started.workflow_id,
            task_id=started.task_id,
            attempt=started.attempt,
            description=started.description,
            inputs=dict(started.inputs),
            context=dict(started.context),
            missing=dict(started.missing),
            idempotency=self.idempotency,
            cancellation=cancellation,
            replica=started.replica,
        )
        envelope = {
            "source": self.name,
            "workflow_id": started.workflow_id,
            "task_id": started.task_id,
            "causation_id": started.id,
            "attempt": started.attempt,
            "attempt_token": started.attempt_token,
        }
        outcome: Event
        try:
            cancellation.raise_if_cancelled()  # before it started: a lost race, say
            value = self.handle(task)
        except TaskError as exc:
            outcome = self._failed(envelope, task, exc, retryable=exc.retryable)
        else:
            try:
                outcome = self._outcome(envelope, task, value)
            except (NotJSONError, EventValidationError) as exc:
                error = TaskError(
                    f"Agent {self.name!r} returned a {type(value).__name__} that cannot "
                    f"travel as JSON: {exc}"
                )
                outcome = self._failed(envelope, task, error, retryable=False)
        try:
            if self._bus.lookup(self.name) is None:  # its supervisor shut down: abandoned
                raise BusClosedError(self.name)
            self._bus.publish(outcome)
        except BusClosedError:  # abandoned by a shutdown: its outcome has nowhere to go
            with _DROPPED_LOCK:
                Agent.dropped_late += 1
                first = Agent.dropped_late == 1
            if first:
                logger.warning(
                    "Agent %r finished task %s after its bus stopped; outcomes published "
                    "after a shutdown are dropped (counted in Agent.dropped_late)",
                    self.name,
                    started.task_id,
                )

    def _outcome(self, envelope: dict[str, Any], task: TaskContext, value: object) -> Event:
        """The event reporting what ``handle`` returned.

        Raises:
            NotJSONError: The result is not a JSON value.
            bus.EventValidationError: The event refuses it (a handoff's context).
        """
        if isinstance(value, HandoffTo):
            return Handoff(
                **envelope,
                from_agent=self.name,
                to_agent=value.agent,
                reason=value.reason,
                context=value.context,
                usage=task.usage,
                model=task.model or "",
            )
        if isinstance(value, Delegate):
            return Delegated(
                **envelope,
                agent=self.name,
                plan=value.plan.model_dump(mode="json"),
                reason=value.reason,
                usage=task.usage,
                model=task.model or "",
            )
        result = to_json_value(value)
        return TaskCompleted(
            **envelope, agent=self.name, result=result, usage=task.usage, model=task.model or ""
        )

    def _failed(
        self, envelope: dict[str, Any], task: TaskContext, exc: Exception, *, retryable: bool
    ) -> TaskFailed:
        return TaskFailed(
            **envelope,
            agent=self.name,
            error_type=type(exc).__name__,
            message=str(exc),
            retryable=retryable,
            usage=task.usage,
            model=task.model or "",
        )
