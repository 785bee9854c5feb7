"""The orchestrator: runs plans by dispatching ready tasks to agents over the bus."""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import random
import time
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pydantic
import pykka
from opentelemetry import context as otel_context
from opentelemetry import trace

from actors._actor import Actor
from actors._backoff import Backoff
from actors._errors import ConfigurationError, PlanValidationError, WorkflowError
from actors._json_value import describe_validation_error
from actors._metrics import Instruments
from bus import (
    ApprovalDecided,
    ApprovalRequested,
    CancelRequested,
    ChildCrashed,
    DeadLetter,
    Event,
    EventBus,
    Handoff,
    TaskCompleted,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    WorkflowFinished,
    WorkflowResumed,
    WorkflowStarted,
)
from memory import EventLog, MemoryStore, MemoryStoreError, workflow_namespace

from .plan import Plan
from .result import TaskStatus, WorkflowResult
from .resume import Rebuilt, rebuild
from .routing import AgentRouter, CircuitBreaker
from .timers import Scheduler
from .workflow_state import (
    ApprovalTimedOut,
    AttemptTimedOut,
    Cancel,
    CancelAll,
    Resume,
    RetryDue,
    Submit,
    TaskRun,
    Workflow,
    workflow_result,
)

__all__ = ["DEFAULT_RETRY_BACKOFF", "Orchestrator"]

DEFAULT_RETRY_BACKOFF = Backoff(minimum=0.1, maximum=10.0, jitter=0.5)
"""Retries wait 0.1, 0.2, 0.4 … s (at most 10 s), each up to 50 % longer at random."""

logger = logging.getLogger(__name__)


class Orchestrator(Actor):
    """Runs plans: dispatches every ready task, collects outcomes, retries, resolves.

    For each submitted :class:`Plan` it publishes a :class:`bus.TaskStarted` for every
    task whose dependencies all completed (highest priority first, then plan order),
    passing the dependencies' results as ``inputs``. On the outcome events:

    * ``TaskCompleted`` completes the task and releases its dependents;
    * ``TaskFailed`` (retryable), ``ChildCrashed`` naming the task, or a ``DeadLetter``
      of its ``TaskStarted`` retries it until ``max_attempts``; then it fails and its
      dependents are cancelled;
    * ``Handoff`` along a declared edge re-dispatches the task to the new agent (at
      most ``max_handoffs`` in a chain); an undeclared one fails the task.

    * no outcome within the attempt's timeout (``Task.timeout``, else ``task_timeout``)
      fails the attempt as ``timeout``, retried like any retryable failure.

    Retries wait ``retry_backoff.delay(attempt)`` seconds (exponential, with jitter).
    Outcomes of an attempt that is no longer current (timed out, superseded, cancelled)
    are ignored and counted as ``late_replies`` of the task, so no task ends twice. Every
    workflow is bounded: attempts by ``max_attempts``, handoffs by ``max_handoffs``,
    dispatches by ``max_steps``, every attempt by its timeout. :func:`cancel` ends every
    unfinished task of a workflow as cancelled. When every task is terminal the
    workflow's future resolves with a :class:`WorkflowResult`. The workflow is one
    ``invoke_workflow`` span, the parent of its events' spans.

    With an event log (given, or the bus's), :func:`resume` rebuilds a workflow whose
    process died from its records: tasks that ended keep their outcome and are not run
    again, tasks that were in flight start again under the attempt number they had (an
    attempt cut short by the process's death does not count against ``max_attempts``),
    and the rest runs as usual.

    Args:
        name: The orchestrator's name (outcome events are delivered to it).
        bus: The bus.
        agents: Names of the declared agents (the static graph).
        handoffs: Allowed handoffs: agent name → names it may hand over to.
        capabilities: Agent name → capabilities; a task may name a capability instead of
            an agent, and is then given to the least loaded agent that has it.
        circuit_breaker: When a failing agent's work goes to another agent with the same
            capability (see :class:`CircuitBreaker`); 5 failures, 30 s by default.
        max_handoffs: Longest handoff chain per task.
        task_timeout: Seconds an attempt may run unless its task says otherwise;
            ``None`` for no limit (not advised: a hung agent then hangs the workflow).
        retry_backoff: Delay before retries; ``None`` retries at once.
        max_steps: Most task dispatches (attempts and handoffs) per workflow; past it,
            the unfinished tasks are cancelled. ``None`` relies on the other bounds.
        approval_timeout: Seconds a task that needs approval waits for a decision
            before it fails; ``None`` waits as long as the workflow lives.
        tracer_provider: For the workflow spans; ``None`` uses the global provider.
        event_log: Where :func:`resume` reads workflows from; ``None`` uses the bus's
            ``event_log`` if it is a readable :class:`memory.EventLog`.
        max_in_flight: Attempts sent to one agent and not yet ended, at most (an agent
            runs one at a time; a few more keep it busy). Further ready tasks wait here,
            highest priority first, then in the order they became ready, across
            workflows; an attempt's timeout starts when it is sent. This bounds the
            agents' mailboxes and the timers, so a plan of 30,000 tasks costs per task
            about what a small one does. ``None`` sends every ready task at once.
        memory: The agents' store: a workflow's short-term facts (namespace
            ``workflow:<id>``, see :meth:`Agent.note`) are discarded when it ends.
    """

    def __init__(
        self,
        *,
        name: str = "orchestrator",
        bus: EventBus,
        agents: Collection[str],
        handoffs: Mapping[str, Collection[str]] | None = None,
        capabilities: Mapping[str, Collection[str]] | None = None,
        circuit_breaker: CircuitBreaker | None = None,
        max_handoffs: int = 5,
        task_timeout: float | None = 600.0,
        retry_backoff: Backoff | None = DEFAULT_RETRY_BACKOFF,
        max_steps: int | None = None,
        approval_timeout: float | None = 3600.0,
        tracer_provider: trace.TracerProvider | None = None,
        event_log: EventLog | None = None,
        max_in_flight: int | None = 4,
        memory: MemoryStore | None = None,
    ) -> None:
        super().__init__(name=name, bus=bus)
        self._memory = memory
        if max_in_flight is not None and max_in_flight < 1:
            msg = f"Orchestrator {name!r} needs max_in_flight >= 1 or None, got {max_in_flight}."
            raise ConfigurationError(msg)
        self.max_in_flight = max_in_flight
        # Ready tasks waiting for an agent with capacity, by target (agent or capability):
        # heaps of (-priority, arrival, workflow id, task id).
        self._waiting: dict[str, list[tuple[int, int, Workflow, str]]] = {}
        # Attempts given up on (timed out, cancelled) that may still run on their agent,
        # by (workflow, task, attempt): the agent takes no new work until they return.
        self._stuck: dict[tuple[str, str, int], str] = {}
        self._arrivals = itertools.count()
        if event_log is None and isinstance(bus.event_log, EventLog):
            event_log = bus.event_log
        self._event_log = event_log
        self.approval_timeout = approval_timeout
        self._router = AgentRouter(list(agents), capabilities, circuit_breaker)
        self.task_timeout = task_timeout
        self.retry_backoff = retry_backoff
        self.max_steps = max_steps
        self._scheduler = Scheduler(f"{name}-timers")
        self._rng = random.Random()
        self._bus = bus
        self.agents = frozenset(agents)
        self.handoffs = {k: frozenset(v) for k, v in (handoffs or {}).items()}
        self.max_handoffs = max_handoffs
        self._tracer = trace.get_tracer(
            "actorchestra.orchestrator", tracer_provider=tracer_provider
        )
        self._workflows: dict[str, Workflow] = {}
        self._metrics = Instruments.of_bus(bus)
        for event_type in (TaskCompleted, TaskFailed, Handoff):
            bus.subscribe(event_type, name)
        bus.subscribe(ChildCrashed, name)
        bus.subscribe(ApprovalDecided, name)
        bus.subscribe(DeadLetter, name)

    # -- messages --------------------------------------------------------------------

    def on_message(self, message: Any) -> Any:  # noqa: ANN401
        """Accept submitted plans, timeouts, due retries and cancellations."""
        if isinstance(message, Submit | Resume):
            try:
                if isinstance(message, Submit):
                    self._start_workflow(message)
                else:
                    self._resume_workflow(message)
            except Exception as exc:  # contained to that workflow
                self._contain(exc, message=message)
            return None
        if isinstance(message, CancelAll):
            for running in list(self._workflows.values()):
                try:
                    with self._in_workflow(running):
                        self._cancel(running, message.reason)
                        self._settle(running)
                except Exception as exc:  # contained to that workflow
                    self._contain(exc, wf=running)
            return None
        if isinstance(message, AttemptTimedOut | RetryDue | Cancel | ApprovalTimedOut):
            wf = self._workflows.get(message.workflow_id)
            if wf is None:
                return None
            try:
                # No span is current in a timer's message: continue the workflow's trace.
                with self._in_workflow(wf):
                    self._on_workflow_message(wf, message)
                    self._settle(wf)
            except Exception as exc:  # contained to that workflow
                self._contain(exc, wf=wf)
            return None
        return super().on_message(message)

    def _on_workflow_message(
        self, wf: Workflow, message: AttemptTimedOut | RetryDue | Cancel | ApprovalTimedOut
    ) -> None:
        if isinstance(message, Cancel):
            self._cancel(wf, message.reason)
        elif isinstance(message, ApprovalTimedOut):
            run = wf.tasks[message.task_id]
            if run.status is TaskStatus.PENDING and run.approval == "requested":
                run.error = f"approval: none within {message.timeout:g} s"
                self._close(wf, run, TaskStatus.FAILED)
                self._cancel_dependents(wf, run.task.id)
        else:
            self._on_timer(wf, message)

    def on_event(self, event: Event) -> None:
        """Route an outcome event to its workflow's task."""
        if self._stuck and self._returned(event) and self._waiting:
            self._drain()  # an agent is free again: its waiting work goes first
        wf = self._workflows.get(event.workflow_id)
        if wf is None:
            return
        try:
            self._on_workflow_event(wf, event)
        except Exception as exc:  # contained to that workflow
            self._contain(exc, wf=wf)

    def _on_workflow_event(self, wf: Workflow, event: Event) -> None:
        run = wf.tasks.get(event.task_id)
        if run is None:
            return
        if isinstance(event, ApprovalDecided):
            self._decided(wf, run, event)
            self._settle(wf)
            return
        if run.status is not TaskStatus.RUNNING or event.attempt != run.attempts:
            if isinstance(event, TaskCompleted | TaskFailed | Handoff):
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
            return
        if isinstance(event, TaskCompleted):
            if event.agent == run.agent:
                self._completed(wf, run, event)
        elif isinstance(event, TaskFailed):
            if event.agent in ("", run.agent):
                run.usage = run.usage + event.usage
                self._failed(wf, run, f"{event.error_type}: {event.message}", event.retryable)
        elif isinstance(event, Handoff):
            if event.from_agent == run.agent:
                run.usage = run.usage + event.usage
                self._handoff(wf, run, event)
        elif isinstance(event, ChildCrashed):
            if event.child == run.agent:
                self._failed(wf, run, f"agent crashed: {event.error_type}: {event.message}", True)
        elif (
            isinstance(event, DeadLetter)
            and event.event.get("type") == "task.started"
            and event.subscriber == event.event.get("agent") == run.agent
        ):
            self._failed(wf, run, f"task undeliverable: {event.reason}", True)
        self._settle(wf)

    def on_stop(self) -> None:
        """Fail every unfinished workflow's future: nobody waits forever."""
        self._scheduler.stop()
        self._abandon("stopped")

    def on_failure(self, *_exc_info: object) -> None:
        """Fail every unfinished workflow's future with the crash as the cause."""
        self._scheduler.stop()
        self._abandon("crashed")

    # -- workflow lifecycle ----------------------------------------------------------

    def _start_workflow(self, msg: Submit) -> None:
        try:
            msg.plan.check(self._router.names)
            if msg.workflow_id in self._workflows:
                text = (
                    f"Workflow {msg.workflow_id!r} is already running in orchestrator "
                    f"{self.name!r}; give the new one another workflow_id."
                )
                raise WorkflowError(text)
        except (PlanValidationError, WorkflowError) as exc:
            msg.future.set_exception((type(exc), exc, exc.__traceback__))
            return
        span = msg.span
        if span is None:
            span = self._workflow_span(msg.name, msg.parent)
        wf = self._new_workflow(
            msg.workflow_id, msg.plan, msg.future, span, owns_span=msg.span is None
        )
        with self._in_workflow(wf):
            if self._bus.has_subscribers(WorkflowStarted):  # dumping the plan is not free
                self._record(
                    WorkflowStarted,
                    workflow_id=wf.id,
                    name=msg.name,
                    plan=msg.plan.model_dump(mode="json"),
                    agents=sorted(self.agents),
                )
            self._dispatch(wf)

    def _workflow_span(
        self, name: str, parent: otel_context.Context, links: list[trace.Link] | None = None
    ) -> trace.Span:
        return self._tracer.start_span(
            f"invoke_workflow {name}",
            context=parent,
            attributes={"gen_ai.operation.name": "invoke_workflow", "gen_ai.agent.name": name},
            links=links,
        )

    def _new_workflow(
        self,
        workflow_id: str,
        plan: Plan,
        future: pykka.Future[WorkflowResult],
        span: trace.Span,
        *,
        owns_span: bool,
        finished: Mapping[str, TaskFinished] | None = None,
    ) -> Workflow:
        """Register a workflow; tasks in ``finished`` take their recorded outcome."""
        span.set_attribute("actorchestra.workflow.id", workflow_id)
        span.set_attribute("actorchestra.workflow.tasks", len(plan.tasks))
        tasks = {
            t.id: TaskRun(
                task=t, order=i, agent=t.agent, target=t.agent, waiting=len(set(t.depends_on))
            )
            for i, t in enumerate(plan.tasks)
        }
        wf = Workflow(
            id=workflow_id,
            plan=plan,
            future=future,
            span=span,
            owns_span=owns_span,
            tasks=tasks,
            dependents=plan.dependents(),
            submitted_mono=time.monotonic(),
            open_tasks=len(tasks),
        )
        for task_id, record in (finished or {}).items():
            run = tasks[task_id]
            run.restore(record)
            wf.open_tasks -= 1
            if run.status is TaskStatus.COMPLETED:
                for dep_id in wf.dependents[task_id]:
                    tasks[dep_id].waiting -= 1
        self._workflows[wf.id] = wf
        for run in tasks.values():
            if run.waiting == 0 and run.status is TaskStatus.PENDING:
                heapq.heappush(wf.ready, (-run.task.priority, run.order, run.task.id))
        return wf

    def _resume_workflow(self, msg: Resume) -> None:
        try:
            state = self._rebuild(msg.workflow_id)
            state.plan.check(self._router.names)
        except (WorkflowError, PlanValidationError) as exc:
            msg.future.set_exception((type(exc), exc, exc.__traceback__))
            return
        links = [trace.Link(state.origin)] if state.origin is not None else None
        span = self._workflow_span(state.name, msg.parent, links)
        span.set_attribute("actorchestra.workflow.resumed", True)
        wf = self._new_workflow(
            msg.workflow_id, state.plan, msg.future, span, owns_span=True, finished=state.finished
        )
        in_flight = state.in_flight
        for task_id in in_flight:
            # The attempt cut short by the process's death runs again under its number.
            wf.tasks[task_id].attempts = state.attempts[task_id] - 1
        with self._in_workflow(wf):
            if state.done is not None:
                self._finish(wf, record=False)
                return
            self._record(
                WorkflowResumed,
                workflow_id=wf.id,
                name=state.name,
                reused=sorted(state.finished),
                restarted=in_flight,
            )
            self._settle(wf)

    @contextlib.contextmanager
    def _in_workflow(self, wf: Workflow) -> Iterator[None]:
        """Make ``wf``'s ``invoke_workflow`` span current (nothing to do untraced)."""
        if not self._bus.tracing:
            yield
            return
        token = otel_context.attach(trace.set_span_in_context(wf.span))
        try:
            yield
        finally:
            otel_context.detach(token)

    def _rebuild(self, workflow_id: str) -> Rebuilt:
        if workflow_id in self._workflows:
            msg = f"Workflow {workflow_id!r} is running in this orchestrator; it needs no resume."
            raise WorkflowError(msg)
        if self._event_log is None:
            msg = (
                f"Orchestrator {self.name!r} has no event log to resume from; give the bus "
                "one: EventBus(event_log=memory.SQLiteEventLog(path))."
            )
            raise WorkflowError(msg)
        return rebuild(workflow_id, self._event_log.events(workflow_id))

    def _settle(self, wf: Workflow) -> None:
        """Dispatch what became ready; resolve the workflow once every task ended."""
        self._dispatch(wf)
        if wf.open_tasks == 0 and wf.id in self._workflows:
            self._finish(wf)
        if self._waiting:
            self._drain()

    def _dispatch(self, wf: Workflow) -> None:
        ready = wf.ready
        limit = self.max_in_flight
        while ready:
            priority, _, task_id = heapq.heappop(ready)
            run = wf.tasks[task_id]
            if run.task.needs_approval and run.approval != "approved":
                self._request_approval(wf, run)
                continue
            if not self._router.has_capacity(run.target, limit):
                waiting = self._waiting.setdefault(run.target, [])
                heapq.heappush(waiting, (priority, next(self._arrivals), wf, task_id))
                continue
            self._start_attempt(wf, run, new_attempt=True)

    def _drain(self) -> None:
        """Send waiting tasks to agents that have room again (see ``max_in_flight``)."""
        limit = self.max_in_flight
        for target, waiting in list(self._waiting.items()):
            while waiting and self._router.has_capacity(target, limit):
                # The workflow itself, not its id: an id may be reused once it ended.
                _, _, wf, task_id = heapq.heappop(waiting)
                if self._workflows.get(wf.id) is not wf:
                    continue  # ended meanwhile
                run = wf.tasks[task_id]
                retry = run.status is TaskStatus.RUNNING and run.retry_pending
                if run.status is not TaskStatus.PENDING and not retry:
                    continue  # cancelled or ended meanwhile
                run.retry_pending = False
                try:
                    with self._in_workflow(wf):  # its cause: not the event that made room
                        self._start_attempt(wf, run, new_attempt=not retry)
                    if wf.open_tasks == 0 and wf.id in self._workflows:
                        self._finish(wf)  # e.g. the start hit max_steps: the rest cancelled
                except Exception as exc:  # contained to that workflow
                    self._contain(exc, wf=wf)
            if not waiting:
                del self._waiting[target]

    def _request_approval(self, wf: Workflow, run: TaskRun) -> None:
        run.approval = "requested"
        timeout = self.approval_timeout
        if timeout is None:
            self._set_timer(run, None)
        else:
            self._set_timer(run, timeout, ApprovalTimedOut(wf.id, run.task.id, timeout))
        self._bus.publish(
            ApprovalRequested(
                source=self.name,
                workflow_id=wf.id,
                task_id=run.task.id,
                agent=run.target,
                description=run.task.description,
            )
        )

    def _decided(self, wf: Workflow, run: TaskRun, event: ApprovalDecided) -> None:
        if run.status is not TaskStatus.PENDING or run.approval != "requested":
            logger.info("Ignoring a decision on %s/%s: none is awaited", wf.id, run.task.id)
            return
        wf.span.add_event(
            "approval",
            {
                "actorchestra.task.id": run.task.id,
                "actorchestra.approval.approved": event.approved,
                "actorchestra.approval.by": event.by,
            },
        )
        if event.approved:
            run.approval = "approved"
            self._set_timer(run, None)
            heapq.heappush(wf.ready, (-run.task.priority, run.order, run.task.id))
            return
        run.error = f"rejected by {event.by or 'someone'}: {event.reason or 'no reason given'}"
        self._close(wf, run, TaskStatus.FAILED)
        self._cancel_dependents(wf, run.task.id)

    def _on_timer(self, wf: Workflow, msg: AttemptTimedOut | RetryDue) -> None:
        run = wf.tasks[msg.task_id]
        if run.status is not TaskStatus.RUNNING or run.attempts != msg.attempt:
            return  # the attempt ended meanwhile
        if isinstance(msg, RetryDue):
            if run.retry_pending:
                self._retry(wf, run)
        elif not run.retry_pending and msg.dispatch == run.dispatches:
            run.timer = None
            self._give_up(wf, run, "timeout")
            error = f"timeout: attempt {msg.attempt} gave no outcome within {msg.timeout:g} s"
            self._failed(wf, run, error, retryable=True)

    def _retry(self, wf: Workflow, run: TaskRun) -> None:
        """Send a due retry, or let it wait (in order) for an agent free of stuck work."""
        if not self._router.has_capacity(run.target, self.max_in_flight):
            waiting = self._waiting.setdefault(run.target, [])
            entry = (-run.task.priority, next(self._arrivals), wf, run.task.id)
            heapq.heappush(waiting, entry)
            return
        run.retry_pending = False
        self._start_attempt(wf, run, new_attempt=False)

    def _give_up(self, wf: Workflow, run: TaskRun, reason: str) -> None:
        """Stop waiting for the attempt in flight; ask its agent to cancel it.

        Its agent takes no new work until the attempt comes back (see ``_returned``).
        """
        agent = run.on_agent
        if agent is None:
            return
        run.on_agent = None
        self._router.given_up(agent)
        self._stuck[(wf.id, run.task.id, run.attempts)] = agent
        self._bus.publish(
            CancelRequested(
                source=self.name,
                workflow_id=wf.id,
                task_id=run.task.id,
                attempt=run.attempts,
                agent=agent,
                reason=reason,
            )
        )

    def _returned(self, event: Event) -> bool:
        """Free the agent of a given-up attempt that ``event`` shows has ended."""
        if isinstance(event, DeadLetter):
            if event.event.get("type") != "task.started":
                return False
        elif not isinstance(event, TaskCompleted | TaskFailed | Handoff | ChildCrashed):
            return False
        agent = self._stuck.pop((event.workflow_id, event.task_id, event.attempt), None)
        if agent is None:
            return False
        self._router.returned(agent)
        return True

    def _set_timer(self, run: TaskRun, delay: float | None, message: object = None) -> None:
        """Replace the task's timer: tell ``message`` to self in ``delay`` s (``None``: none)."""
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        if delay is None:
            return

        def tell() -> None:  # runs in the scheduler's thread
            with contextlib.suppress(pykka.ActorDeadError):
                self.actor_ref.tell(message)

        run.timer = self._scheduler.call_later(delay, tell)

    def _record(self, event_type: type[Event], **fields: Any) -> None:  # noqa: ANN401
        """Publish a lifecycle record, only if anyone subscribes (building one costs ~3 us)."""
        if self._bus.has_subscribers(event_type):
            self._bus.publish(event_type(source=self.name, **fields))

    def _start_attempt(
        self, wf: Workflow, run: TaskRun, *, new_attempt: bool, route: bool = True
    ) -> None:
        task = run.task
        if new_attempt:
            run.attempts += 1
        wf.steps += 1
        if self.max_steps is not None and wf.steps > self.max_steps:
            self._cancel(wf, f"the workflow reached its limit of {self.max_steps} steps")
            return
        run.status = TaskStatus.RUNNING
        run.dispatches += 1
        if route:
            run.agent = self._router.choose(run.target)
        self._router.started(run.agent)
        run.on_agent = run.agent
        timeout = task.timeout if task.timeout is not None else self.task_timeout
        if timeout is None:
            self._set_timer(run, None)
        else:
            message = AttemptTimedOut(wf.id, task.id, run.attempts, timeout, run.dispatches)
            self._set_timer(run, timeout, message)
        if run.started_at is None:
            run.started_at = datetime.now(UTC)
            run.started_mono = time.monotonic()
        inputs = {dep: wf.tasks[dep].result for dep in task.depends_on}
        self._metrics.tasks_started.add(1, {"gen_ai.agent.name": run.agent})
        self._bus.publish(
            TaskStarted(
                source=self.name,
                workflow_id=wf.id,
                task_id=task.id,
                attempt=run.attempts,
                agent=run.agent,
                description=task.description,
                inputs=inputs,
                context=run.context or {},
                handoff_depth=run.handoff_depth,
                timeout=timeout,
            )
        )

    def _attempt_over(self, run: TaskRun, *, ok: bool | None) -> None:
        """Tell the router the current dispatch ended (once per dispatch)."""
        if run.on_agent is not None:
            self._router.finished(run.on_agent, ok=ok)
            run.on_agent = None

    def _completed(self, wf: Workflow, run: TaskRun, event: TaskCompleted) -> None:
        self._attempt_over(run, ok=True)
        run.usage = run.usage + event.usage
        run.result = event.result
        self._close(wf, run, TaskStatus.COMPLETED)
        for dep_id in wf.dependents[run.task.id]:
            dependent = wf.tasks[dep_id]
            dependent.waiting -= 1
            if dependent.waiting == 0 and dependent.status is TaskStatus.PENDING:
                heapq.heappush(wf.ready, (-dependent.task.priority, dependent.order, dep_id))

    def _failed(self, wf: Workflow, run: TaskRun, error: str, retryable: bool) -> None:
        self._attempt_over(run, ok=False)
        run.error = error
        self._metrics.tasks_failed.add(
            1, {"gen_ai.agent.name": run.agent, "error.type": error.split(":", 1)[0]}
        )
        if retryable and run.attempts < run.task.max_attempts:
            wf.span.add_event(
                "retry",
                {
                    "actorchestra.task.id": run.task.id,
                    "actorchestra.task.attempt": run.attempts,
                    "error.type": error.split(":", 1)[0],
                },
            )
            run.attempts += 1  # outcomes of the failed attempt are late from now on
            run.retry_pending = True
            if self.retry_backoff is None:
                self._retry(wf, run)
                return
            delay = self.retry_backoff.delay(run.attempts - 1, self._rng)
            self._set_timer(run, delay, RetryDue(wf.id, run.task.id, run.attempts))
            return
        self._close(wf, run, TaskStatus.FAILED)
        self._cancel_dependents(wf, run.task.id)

    def _handoff(self, wf: Workflow, run: TaskRun, event: Handoff) -> None:
        allowed = self.handoffs.get(event.from_agent, frozenset())
        if event.to_agent not in allowed:
            msg = (
                f"HandoffError: agent {event.from_agent!r} handed task {run.task.id!r} to "
                f"{event.to_agent!r}, which is not a declared handoff; declare it in handoffs."
            )
            self._failed(wf, run, msg, retryable=False)
            return
        if run.handoff_depth >= self.max_handoffs:
            msg = (
                f"HandoffError: task {run.task.id!r} reached the limit of "
                f"{self.max_handoffs} handoffs."
            )
            self._failed(wf, run, msg, retryable=False)
            return
        wf.span.add_event(
            "handoff",
            {
                "actorchestra.task.id": run.task.id,
                "actorchestra.handoff.from_agent": event.from_agent,
                "actorchestra.handoff.to_agent": event.to_agent,
                "actorchestra.handoff.depth": run.handoff_depth + 1,
            },
        )
        run.handoff_depth += 1
        self._attempt_over(run, ok=None)
        run.agent = run.target = event.to_agent
        run.context = {
            **event.context,
            "handoff_reason": event.reason,
            "handoff_from": event.from_agent,
        }
        self._start_attempt(wf, run, new_attempt=False, route=False)

    def _cancel_dependents(self, wf: Workflow, task_id: str) -> None:
        stack = list(wf.dependents[task_id])
        while stack:
            run = wf.tasks[stack.pop()]
            if run.status is TaskStatus.PENDING:
                run.error = f"cancelled: dependency {task_id!r} did not complete"
                self._close(wf, run, TaskStatus.CANCELLED)
                stack.extend(wf.dependents[run.task.id])

    def _cancel(self, wf: Workflow, reason: str) -> None:
        """End every unfinished task of ``wf`` as cancelled."""
        wf.cancelled = True
        wf.cancel_reason = wf.cancel_reason or reason
        wf.ready.clear()
        wf.span.add_event("cancel", {"actorchestra.cancel.reason": reason})
        for run in wf.tasks.values():
            if run.status in (TaskStatus.PENDING, TaskStatus.RUNNING):
                run.error = f"cancelled: {reason}"
                self._close(wf, run, TaskStatus.CANCELLED)

    def _close(self, wf: Workflow, run: TaskRun, status: TaskStatus) -> None:
        if status is not TaskStatus.COMPLETED:
            self._give_up(wf, run, run.error or status.value)  # an attempt still out there
        self._attempt_over(run, ok=None)
        self._set_timer(run, None)
        run.retry_pending = False
        run.status = status
        run.finished_at = datetime.now(UTC)
        run.finished_mono = time.monotonic()
        wf.open_tasks -= 1
        self._record(
            TaskFinished,
            workflow_id=wf.id,
            task_id=run.task.id,
            attempt=max(1, run.attempts),
            status=status.value,
            attempts=run.attempts,
            agent=run.agent,
            error=run.error if status is not TaskStatus.COMPLETED else "",
            result=run.result,
            usage=run.usage,
            duration=(run.finished_mono - run.started_mono) if run.started_at else 0.0,
        )
        attributes = {"gen_ai.agent.name": run.agent, "actorchestra.task.status": status.value}
        if status is TaskStatus.COMPLETED:
            self._metrics.tasks_completed.add(1, {"gen_ai.agent.name": run.agent})
        if run.started_at is not None:
            self._metrics.task_duration.record(run.finished_mono - run.started_mono, attributes)

    def _finish(self, wf: Workflow, *, record: bool = True) -> None:
        del self._workflows[wf.id]
        result = workflow_result(wf)
        if not result.ok:  # the span tells why, before it ends
            failed = [r.task_id for r in result.tasks if r.status is not TaskStatus.COMPLETED]
            why = f"cancelled: {wf.cancel_reason}; " if wf.cancelled else ""
            wf.span.set_status(trace.StatusCode.ERROR, f"{why}tasks not completed: {failed}")
        if record:
            self._record(
                WorkflowFinished,
                workflow_id=wf.id,
                status=result.status.value,
                duration=result.duration,
            )
        if self._memory is not None:
            try:
                self._memory.discard(workflow_namespace(wf.id))
            except MemoryStoreError:
                logger.exception("Could not discard the short-term memory of %s", wf.id)
        if wf.owns_span:
            wf.span.end()
        wf.future.set(result)

    def _contain(
        self, exc: Exception, *, wf: Workflow | None = None, message: Submit | Resume | None = None
    ) -> None:
        """End the workflow whose handling raised ``exc`` (``wf``, or ``message``'s).

        The other workflows go on. Its unfinished tasks fail (each still ends exactly
        once), and its future fails with a :class:`WorkflowError` whose ``__cause__`` is
        ``exc`` (none for a pydantic error: its message quotes model output). A
        workflow that had already ended is left as it ended; the fault is logged.
        """
        invalid = isinstance(exc, pydantic.ValidationError)
        what = describe_validation_error(exc) if isinstance(exc, pydantic.ValidationError) else ""
        workflow_id = wf.id if wf is not None else message.workflow_id if message else "?"
        logger.error(
            "Orchestrator %r: workflow %s failed on an error in its handling (%s%s); "
            "other workflows go on",
            self.name,
            workflow_id,
            type(exc).__name__,
            f": {what}" if what else "",
            exc_info=None if invalid else exc,
        )
        msg = (
            f"Workflow {workflow_id!r} failed: the orchestrator could not handle its data "
            f"({type(exc).__name__}); other workflows go on."
        )
        error = WorkflowError(msg)
        error.__cause__ = None if invalid else exc
        if wf is None and message is not None:
            registered = self._workflows.get(message.workflow_id)
            if registered is None or registered.future is not message.future:
                message.future.set_exception((WorkflowError, error, None))
                return  # failed before it was registered
            wf = registered
        if wf is None or self._workflows.get(wf.id) is not wf:
            return
        del self._workflows[wf.id]
        cause = f"orchestrator error: {type(exc).__name__}"
        with contextlib.suppress(Exception):  # the same fault may strike again
            for run in wf.tasks.values():
                if run.status in (TaskStatus.PENDING, TaskStatus.RUNNING):
                    run.error = cause
                    self._close(wf, run, TaskStatus.FAILED)
            self._record(
                WorkflowFinished,
                workflow_id=wf.id,
                status="failed",
                duration=time.monotonic() - wf.submitted_mono,
            )
        wf.span.set_status(trace.StatusCode.ERROR, msg)
        if wf.owns_span:
            wf.span.end()
        wf.future.set_exception((WorkflowError, error, None))

    def _abandon(self, how: str) -> None:
        for wf in list(self._workflows.values()):
            msg = f"Orchestrator {self.name!r} {how} before workflow {wf.id!r} finished."
            exc = WorkflowError(msg)
            wf.span.set_status(trace.StatusCode.ERROR, msg)
            if wf.owns_span:
                wf.span.end()
            wf.future.set_exception((WorkflowError, exc, None))
        self._workflows.clear()
