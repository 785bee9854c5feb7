"""The orchestrator: an actor that routes messages and events to workflow transitions."""

from __future__ import annotations

import logging
import random
from collections.abc import Collection, Mapping
from typing import Any

from actors._errors import PlanValidationError, WorkflowError
from actors._metrics import Instruments
from bus import (
    ApprovalDecided,
    Bid,
    Delegated,
    Event,
    EventBus,
    Handoff,
    TaskCompleted,
    TaskFailed,
    Telemetry,
    WorkflowStarted,
)
from memory import EventLog, MemoryStore

from .contract_net import BiddingClosed, ContractNet, ContractNetting
from .delegation import Delegations
from .handoffs import Handoffs
from .identity import Rejections, Verdict, attempt_token_of, failure_of, verdict
from .membership import Backlog, Join, Leave, Membership
from .policies import Limits, RetryPolicy
from .prices import DEFAULT_PRICES, Prices
from .redundancy import REDUCERS, Reducer
from .remote import ORCHESTRATOR_INBOX
from .replan import carried_records
from .replication import Replication
from .resume import Resumption
from .routing import AgentRouter
from .waiting_room import WaitingRoom
from .workflow_span import SCOPE, start_workflow_span
from .workflow_state import (
    ApprovalTimedOut,
    AttemptTimedOut,
    Cancel,
    CancelAll,
    Decide,
    Resume,
    RetryDue,
    Submit,
    Workflow,
)

__all__ = ["Orchestrator"]

logger = logging.getLogger(__name__)

_Timed = AttemptTimedOut | RetryDue | Cancel | ApprovalTimedOut | BiddingClosed
_TIMED = (AttemptTimedOut, RetryDue, Cancel, ApprovalTimedOut, BiddingClosed)


class Orchestrator(Resumption, Handoffs, Delegations, Replication, ContractNetting, Membership):
    """Runs plans: dispatches every ready task, collects outcomes, retries, resolves.

    For each submitted :class:`Plan` it publishes a :class:`bus.TaskStarted` for every
    task whose dependencies all completed (highest priority first, then plan order),
    passing the dependencies' results as ``inputs``. On the outcome events:

    * ``TaskCompleted`` completes the task and releases its dependents;
    * ``TaskFailed`` (retryable), ``ChildCrashed`` naming the task, or a ``DeadLetter``
      of its ``TaskStarted`` retries it until ``max_attempts``; then it fails and its
      dependents are cancelled (:mod:`~actors._orchestration.retries`);
    * ``Handoff`` along a declared edge re-dispatches the task to the new agent (at
      most ``Limits.max_handoffs`` in a chain); an undeclared one fails the task
      (:mod:`~actors._orchestration.handoffs`);
    * ``Delegated`` runs the agent's sub-plan as a child workflow of the task, which
      ends with it (at most ``Limits.max_delegation_depth`` deep); cancelling the task's
      workflow, its timeout, budget and ``max_steps`` reach the child
      (:mod:`~actors._orchestration.delegation`);
    * a decision from :func:`approve` (a message, never a bus event) opens or closes a
      task's approval gate, and is published as ``ApprovalDecided``
      (:mod:`~actors._orchestration.approvals`);
    * no outcome within the attempt's timeout fails the attempt as ``timeout``;
    * ``Bid`` answers a contract-net call; the attempt is awarded once all candidates
      answered or at the deadline (:mod:`~actors._orchestration.contract_net`);
    * an outcome of a replica of a replicated attempt (``Task.redundancy``) counts for
      that replica; the first result or a vote decides the attempt
      (:mod:`~actors._orchestration.replication`).

    Each ``TaskStarted`` carries a new attempt token; an outcome (or a crash report, or
    a dead letter of the ``TaskStarted``) is applied only with the token of the attempt
    in flight. One with a token never issued for that task and attempt, and an
    ``ApprovalDecided`` published by anyone but this orchestrator, are rejected: not
    applied, counted, logged at WARNING and published as :class:`bus.EventRejected`
    (:mod:`~actors._orchestration.identity`). Outcomes of an attempt that is no longer
    current (timed out, superseded, cancelled) are ignored and counted as
    ``late_replies`` of the task, so no task ends twice; the tokens they report count
    in the task's usage and the budget all the same, while the workflow runs. Every
    workflow is bounded (see :class:`Limits`). :func:`cancel` ends every unfinished task
    of a workflow as cancelled. When every task is terminal the workflow's future
    resolves with a :class:`WorkflowResult`. The workflow is one ``invoke_workflow``
    span, the parent of its events' spans. With an event log (given, or the bus's),
    :func:`resume` rebuilds a workflow whose process died from its records
    (:mod:`~actors._orchestration.resume`). A fault in handling one workflow fails that
    workflow only (:mod:`~actors._orchestration.containment`).

    Args:
        name: The orchestrator's name (outcome events are delivered to it).
        bus: The bus.
        agents: Names of the declared agents (the static graph).
        handoffs: Allowed handoffs: agent name → names it may hand over to.
        capabilities: Agent name → capabilities; a task may name a capability instead of
            an agent, and is then given to the least loaded agent that has it.
        retry: How failed attempts are retried (backoff, circuit breaker).
        limits: Timeouts (seconds) and bounds on steps, handoffs and in-flight attempts.
        telemetry: Where the workflow spans and task metrics go; ``None`` uses the bus's
            (``bus.telemetry``).
        event_log: Where :func:`resume` reads workflows from; ``None`` uses the bus's
            ``event_log`` if it is a readable :class:`memory.EventLog`.
        memory: The agents' store: a workflow's short-term facts (namespace
            ``workflow:<id>``, see :meth:`Agent.note`) are discarded when it ends.
        prices: What tokens cost by model, for the results' ``cost`` and a dollar
            budget; :data:`DEFAULT_PRICES` by default.
        contract_net: Route tasks by contract net (bids); ``None``: only tasks marked
            ``routing="contract_net"``, with :class:`ContractNet`'s defaults.
        reducers: Reducers votes may name (``Redundancy.reducer``), beside
            :data:`REDUCERS`; a name given here replaces a built-in one.
    """

    def __init__(
        self,
        *,
        name: str = "orchestrator",
        bus: EventBus,
        agents: Collection[str],
        handoffs: Mapping[str, Collection[str]] | None = None,
        capabilities: Mapping[str, Collection[str]] | None = None,
        retry: RetryPolicy | None = None,
        limits: Limits | None = None,
        telemetry: Telemetry | None = None,
        event_log: EventLog | None = None,
        memory: MemoryStore | None = None,
        prices: Prices | None = None,
        contract_net: ContractNet | None = None,
        reducers: Mapping[str, Reducer] | None = None,
    ) -> None:
        super().__init__(name=name, bus=bus)
        self.contract_net = contract_net
        self.reducers = {**REDUCERS, **(reducers or {})}
        self.prices = prices if prices is not None else DEFAULT_PRICES
        self._bus = bus
        self.retry = retry if retry is not None else RetryPolicy()
        self.limits = limits if limits is not None else Limits()
        self.agents = frozenset(agents)
        self.handoffs = {k: frozenset(v) for k, v in (handoffs or {}).items()}
        self._router = AgentRouter(list(agents), capabilities, self.retry.circuit_breaker)
        self._waiting_room = WaitingRoom(
            self._router,
            self.limits.max_in_flight,
            lambda target, seconds: self._metrics.queue_wait.record(
                seconds, {"actorchestra.target": target}
            ),
        )
        self._stuck = {}
        self._workflows = {}
        self._rng = random.Random()
        telemetry = telemetry if telemetry is not None else bus.telemetry
        self._tracer = telemetry.tracer(SCOPE)
        self._metrics = Instruments.of_telemetry(telemetry)
        self._rejections = Rejections(bus, self._metrics.rejected_events, name)
        self._own_decisions = set()
        if event_log is None and isinstance(bus.event_log, EventLog):
            event_log = bus.event_log
        self._event_log = event_log
        self._memory = memory
        for event_type in ORCHESTRATOR_INBOX:
            bus.subscribe(event_type, name)

    # -- messages: submit, resume, cancel, timers ----------------------------------------

    def on_message(self, message: Any) -> Any:  # noqa: ANN401
        """Accept submitted plans, timeouts, due retries, cancellations and decisions."""
        if isinstance(message, Submit | Resume):
            try:
                if isinstance(message, Submit):
                    self._start_workflow(message)
                else:
                    self._resume_workflow(message)
            except Exception as exc:  # contained to that workflow
                self._contain(exc, message=message)
            return None
        if isinstance(message, Join | Leave | Backlog):
            return self._membership(message)
        if isinstance(message, CancelAll):
            for running in list(self._workflows.values()):
                if running.parent is not None:
                    continue  # a child workflow: cancelled with its parent
                try:
                    with self._in_span(running.span):
                        self._cancel(running, message.reason)
                        self._settle(running)
                except Exception as exc:  # contained to that workflow
                    self._contain(exc, wf=running)
            return None
        if isinstance(message, (*_TIMED, Decide)):
            wf = self._workflows.get(message.workflow_id)
            if wf is None:
                if isinstance(message, Decide):
                    logger.info(
                        "Ignoring a decision on %s/%s: no such workflow runs here",
                        message.workflow_id,
                        message.task_id,
                    )
                return None
            try:
                # No span is current in a timer's message: continue the workflow's trace.
                with self._in_span(wf.span):
                    self._on_workflow_message(wf, message)
                    self._settle(wf)
            except Exception as exc:  # contained to that workflow
                self._contain(exc, wf=wf)
            return None
        return super().on_message(message)

    def _on_workflow_message(self, wf: Workflow, message: _Timed | Decide) -> None:
        if isinstance(message, BiddingClosed):
            self._bidding_closed(wf, message)
        elif isinstance(message, Cancel):
            self._cancel(wf, message.reason)
        elif isinstance(message, Decide):
            self._decide(wf, message)
        elif isinstance(message, ApprovalTimedOut):
            self._approval_timed_out(wf, message)
        else:
            self._on_timer(wf, message)

    # -- events: outcomes of attempts -------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Route an outcome event to its workflow's task; reject forged ones."""
        if isinstance(event, ApprovalDecided):
            self._decision_published(event)
            return
        if isinstance(event, Bid):
            self._on_bid(event)
            return
        if self._stuck and self._returned(event) and self._waiting_room:
            self._drain()  # an agent is free again: its waiting work goes first
        wf = self._workflows.get(event.workflow_id)
        if wf is None:
            return
        try:
            self._on_workflow_event(wf, event)
        except Exception as exc:  # contained to that workflow
            self._contain(exc, wf=wf)

    def _on_workflow_event(self, wf: Workflow, event: Event) -> None:
        token = attempt_token_of(event)
        if token is None:
            return  # not about an attempt
        run = wf.tasks.get(event.task_id)
        reported = isinstance(event, TaskCompleted | TaskFailed | Handoff | Delegated)
        if run is None:
            if reported:
                self._rejections.reject(event, "forged outcome", "no such task")
            return
        if not token and not reported:
            return  # a crash or dead letter that was not an attempt's (another actor's)
        judged, detail = verdict(run, event, token)
        if judged is Verdict.FORGED:
            self._rejections.reject(event, "forged outcome", detail)
            return
        if judged is Verdict.STALE:
            if reported:
                run.late_replies += 1
                logger.info(
                    "Ignoring late %s of %s/%s attempt %d (task is %s, attempt %d)",
                    event.type,
                    event.workflow_id,
                    event.task_id,
                    event.attempt,
                    run.status.value,
                    run.attempts,
                )
                outcome = (TaskCompleted, TaskFailed, Handoff, Delegated)
                if isinstance(event, outcome) and event.usage.total_tokens:
                    # Spent all the same (by a timed-out attempt, a loser of a race).
                    wf.spend(run, event.usage, event.model)
                    self._check_budget(wf)
                    self._settle(wf)
            return
        if run.replicas is not None:
            self._on_replica_event(wf, run, event, token)
        elif isinstance(event, TaskCompleted):
            if event.agent == run.agent:
                self._completed(wf, run, event)
        elif isinstance(event, Handoff):
            if event.from_agent == run.agent:
                wf.spend(run, event.usage, event.model)
                self._handoff(wf, run, event)
        elif isinstance(event, Delegated):
            if event.agent == run.agent:
                wf.spend(run, event.usage, event.model)
                self._delegated(wf, run, event)
        else:
            failure = failure_of(event, run.agent)
            if failure is not None:
                if isinstance(event, TaskFailed):
                    wf.spend(run, event.usage, event.model)
                self._failed(wf, run, failure.kind, failure.error, retryable=failure.retryable)
        self._check_budget(wf)
        self._settle(wf)

    def on_stop(self) -> None:
        """Fail every unfinished workflow's future: nobody waits forever."""
        self._abandon("stopped")

    def on_failure(self, *_exc_info: object) -> None:
        """Fail every unfinished workflow's future with the crash as the cause."""
        self._abandon("crashed")

    # -- starting a workflow ---------------------------------------------------------------

    def _start_workflow(self, msg: Submit) -> None:
        carried = {t.task_id: t for t in msg.carried}
        try:
            self._check_plan(msg.plan)
            if msg.workflow_id in self._workflows:
                text = (
                    f"Workflow {msg.workflow_id!r} is already running in orchestrator "
                    f"{self.name!r}; give the new one another workflow_id."
                )
                raise WorkflowError(text)
            unknown = sorted(carried.keys() - {t.id for t in msg.plan.tasks})
            if unknown:
                text = f"Carried tasks {unknown} are not in the plan; a re-plan keeps their ids."
                raise WorkflowError(text)
        except (PlanValidationError, WorkflowError) as exc:
            msg.future.set_exception((type(exc), exc, exc.__traceback__))
            return
        span = msg.span
        if span is None:
            span = start_workflow_span(self._tracer, msg.name, msg.parent)
        records = carried_records(carried, msg.workflow_id, self.name)
        with self._in_span(span):
            if self._bus.has_subscribers(WorkflowStarted):  # dumping the plan is not free
                self._record(
                    WorkflowStarted,
                    workflow_id=msg.workflow_id,
                    name=msg.name,
                    causation_id=msg.causation_id,
                    plan=msg.plan.model_dump(mode="json"),
                    agents=sorted(self.agents),
                    replans=msg.replans,
                    carried=sorted(carried),
                )
            for record in records.values():
                self._bus.publish(record)
            wf = self._new_workflow(
                msg.workflow_id,
                msg.plan,
                msg.future,
                span,
                owns_span=msg.span is None,
                planning=msg.planning,
                finished=records,
            )
            self._check_budget(wf)  # the planning alone may have spent it
            self._settle(wf)
