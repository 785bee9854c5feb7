"""A team: agents and an orchestrator under one supervision tree, on one bus."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Self, TypeVar, cast

import pykka
from opentelemetry import trace

from actors._errors import ConfigurationError
from actors._supervision.child_spec import ChildSpec
from actors._supervision.supervisor import ChildInfo, Supervisor
from bus import Event, EventBus, Telemetry, TokenUsage
from memory import MemoryStore

from .aio import AsyncRuns
from .contract_net import ContractNet
from .orchestrator import Orchestrator
from .plan import Plan
from .policies import Limits, RetryPolicy
from .pool import AgentPool
from .prices import Prices
from .redundancy import REDUCERS, Reducer, check_redundancy
from .remote import AGENT_INBOX, RemoteAgent, Transport
from .replan import Replan
from .result import TaskResult, WorkflowResult
from .submit import approve, cancel, resume, submit, wait
from .team_triggers import TeamTriggers
from .triggers import Trigger
from .workflow_future import WorkflowFuture
from .workflow_span import workflow_span
from .workflow_state import CancelAll

__all__ = ["Team"]

E = TypeVar("E", bound=Event)


class Team(AsyncRuns, TeamTriggers):
    """Agents and an orchestrator, supervised, on one bus; the usual way to embed us.

    The tree is ``<name>`` (one_for_one) over ``orchestrator`` and ``agents``
    (a one_for_one supervisor over the agent specs). Use it as a context manager, or
    call :meth:`stop`.

    Args:
        agents: Child specs of the agents (see :meth:`Agent.child_spec`), in start order,
            and :class:`RemoteAgent` entries for agents served by other processes
            (:class:`actors.worker.Worker`), reached through ``transport``, and
            :class:`AgentPool` entries (elastic pools, which tasks name by the pool's
            name).
        bus: The bus the agents were given; if ``None``, ``transport.bus()`` with a
            transport, else a new one reporting to ``telemetry``.
        transport: How remote agents are reached (e.g. :class:`bus.NatsTransport`);
            the team provisions their queues and serves its orchestrator through it.
            The caller closes it, after :meth:`stop`.
        handoffs: Allowed handoffs: agent name → names it may hand over to.
        name: Name of the root supervisor.
        max_restarts: Restart intensity of the agents' supervisors (pools' too).
        period: Their restart intensity window, in seconds.
        retry: How failed attempts are retried: backoff, and the circuit breaker that
            sends a failing agent's work elsewhere (the agents' ``capabilities`` say
            where); see :class:`RetryPolicy`.
        limits: Timeouts (seconds) and bounds on steps, handoffs, attempts in flight
            per agent and each workflow's budget; see :class:`Limits`.
        prices: What tokens cost by model (results' ``cost``, a dollar budget); see
            :class:`Prices`. :data:`DEFAULT_PRICES` by default.
        telemetry: Where the team's workflow spans, supervisors' spans and task metrics
            go; ``None`` uses the bus's (``bus.telemetry``). Agents take their own.
        memory: The agents' store; each workflow's short-term facts are discarded at
            its end (see :meth:`Agent.note`).
        contract_net: Route tasks by contract net: their candidates bid (see
            :class:`ContractNet`, ``Task.routing``); ``None``: marked tasks only.
        reducers: Reducers a vote may name (``Redundancy.reducer``), beside
            :data:`REDUCERS`.

    Raises:
        ConfigurationError: No agents, or a handoff names an unknown agent.

    Example:
        >>> from actors import Agent, Plan, Task, Team
        >>> from bus import EventBus
        >>> class Echo(Agent):
        ...     def handle(self, task):
        ...         return task.description
        >>> bus = EventBus(tracing=False)
        >>> with Team([Echo.child_spec("echo", bus)], bus=bus) as team:
        ...     result = team.run(Plan(tasks=[Task(id="t1", agent="echo", description="hi")]))
        >>> result.answer
        'hi'
    """

    def __init__(
        self,
        agents: Sequence[ChildSpec | RemoteAgent | AgentPool],
        *,
        bus: EventBus | None = None,
        handoffs: Mapping[str, Collection[str]] | None = None,
        name: str = "team",
        max_restarts: int = 3,
        period: float = 5.0,
        retry: RetryPolicy | None = None,
        limits: Limits | None = None,
        telemetry: Telemetry | None = None,
        memory: MemoryStore | None = None,
        transport: Transport | None = None,
        prices: Prices | None = None,
        contract_net: ContractNet | None = None,
        reducers: Mapping[str, Reducer] | None = None,
    ) -> None:
        if not agents:
            msg = "A Team needs at least one agent child spec."
            raise ConfigurationError(msg)
        remote = [a for a in agents if isinstance(a, RemoteAgent)]
        pools = [a for a in agents if isinstance(a, AgentPool)]
        local = [a for a in agents if isinstance(a, ChildSpec)]
        if remote and transport is None:
            msg = "A Team with RemoteAgent entries needs a transport= to reach them."
            raise ConfigurationError(msg)
        first = {p.member(n): p.name for p in pools for n in range(1, p.min_size + 1)}
        names = {spec.id for spec in local} | {agent.name for agent in remote} | first.keys()
        for source, targets in (handoffs or {}).items():
            unknown = sorted(({source} | set(targets)) - names)
            if unknown:
                msg = f"Handoff from {source!r} names unknown agents {unknown}."
                raise ConfigurationError(msg)
        self._owns_bus = bus is None
        if bus is None:
            t = telemetry or Telemetry()
            if transport is not None:
                bus = transport.bus(telemetry=t)
            else:
                bus = EventBus(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
        self.bus = bus
        self.agents: dict[str, str] = {spec.id: spec.description for spec in local}
        self.agents |= {agent.name: agent.description for agent in remote}
        capabilities = {s.id: s.capabilities for s in local if s.capabilities}
        capabilities |= {a.name: frozenset(a.capabilities) for a in remote if a.capabilities}
        capabilities |= {member: frozenset({pool}) for member, pool in first.items()}
        self.agents |= {pool.name: pool.description for pool in pools}
        self._names = frozenset(self.agents).union(*capabilities.values())
        self._reducers = REDUCERS.keys() | (reducers or {}).keys()
        self._max_copies = (limits or Limits()).max_copies
        self.name = name
        self.telemetry = telemetry = telemetry if telemetry is not None else bus.telemetry
        b = self.bus
        orchestrator = ChildSpec(
            id="orchestrator",
            start=lambda: Orchestrator.start(
                name="orchestrator",
                bus=b,
                agents=names,
                handoffs=handoffs,
                capabilities=capabilities,
                retry=retry,
                limits=limits,
                telemetry=telemetry,
                memory=memory,
                prices=prices,
                contract_net=contract_net,
                reducers=reducers,
            ),
        )
        agents_sup = ChildSpec(
            id=f"{name}.agents",
            start=lambda: Supervisor.start(
                name=f"{name}.agents",
                bus=b,
                children=local,
                max_restarts=max_restarts,
                period=period,
                telemetry=telemetry,
            ),
        )
        for agent in remote:  # their work goes to the transport: no actor has the name here
            for event_type in AGENT_INBOX:
                bus.subscribe(event_type, agent.name, recipient=agent.name)
        if transport is not None:
            transport.reach([agent.name for agent in remote])
            transport.provision([agent.name for agent in remote])
        self._triggers: dict[str, Trigger[Event]] = {}
        limit = (max_restarts, period)
        self.supervisor: pykka.ActorRef[Supervisor] = Supervisor.start(
            name=name,
            bus=b,
            children=[
                orchestrator,
                agents_sup,
                *(s for p in pools for s in p.child_specs(b, telemetry, "orchestrator", limit)),
            ],
            telemetry=telemetry,
        )
        if transport is not None:
            transport.serve(["orchestrator"])
            transport.watch_dead_letters()

    def submit(
        self,
        plan: Plan,
        *,
        workflow_id: str | None = None,
        name: str = "workflow",
        causation_id: str = "",
        planning: Mapping[str, TokenUsage] | None = None,
        carried: Sequence[TaskResult] = (),
        replans: str = "",
    ) -> WorkflowFuture:
        """Check ``plan`` and start it as a workflow; returns a future of its result.

        ``causation_id`` is the id of the event that caused it, if any (its
        ``WorkflowStarted.causation_id``). ``planning`` is what making the plan spent, by
        model (``Planner.spent``). ``carried`` and ``replans``: see :func:`submit`.

        Raises:
            PlanValidationError: The plan is not a DAG over this team's agents.
            BudgetExceeded: Through the future, if it spends more than ``Limits.budget``.
            WorkflowError: Through the future, if the orchestrator stops first.
        """
        plan.check(self._names)
        check_redundancy(plan, self._reducers, self._max_copies)
        return submit(
            self._orchestrator(),
            plan,
            workflow_id=workflow_id,
            name=name,
            causation_id=causation_id,
            planning=planning,
            carried=carried,
            replans=replans,
        )

    def resume(self, workflow_id: str) -> WorkflowFuture:
        """Continue a workflow from the bus's event log (see :func:`actors.lowlevel.resume`)."""
        return resume(self._orchestrator(), workflow_id)

    def cancel(self, workflow_id: str, reason: str = "by request") -> None:
        """Cancel a running workflow (see :func:`actors.lowlevel.cancel`)."""
        cancel(self._orchestrator(), workflow_id, reason)

    def approve(
        self,
        workflow_id: str,
        task_id: str,
        *,
        approved: bool = True,
        by: str = "",
        reason: str = "",
    ) -> None:
        """Approve (or reject) a task waiting for approval (see :func:`actors.lowlevel.approve`).

        The only way to decide: the decision goes to the orchestrator, which publishes
        it as ``ApprovalDecided``; one published on the bus by anyone else is rejected.
        A decision on a task that does not wait for one is ignored (logged at INFO).

        Raises:
            ConfigurationError: The team's orchestrator is not running (stopped).
        """
        approve(self._orchestrator(), workflow_id, task_id, approved=approved, by=by, reason=reason)

    def _orchestrator(self) -> pykka.ActorRef[Orchestrator]:
        ref = self.bus.lookup("orchestrator")
        if ref is None:
            msg = f"Team {self.name!r} has no running orchestrator; was it stopped?"
            raise ConfigurationError(msg)
        return cast("pykka.ActorRef[Orchestrator]", ref)

    def run(
        self,
        plan: Plan,
        *,
        timeout: float | None = 60.0,
        name: str = "workflow",
        workflow_id: str | None = None,
        planning: Mapping[str, TokenUsage] | None = None,
        replan: Replan | None = None,
    ) -> WorkflowResult:
        """Run ``plan`` to its end.

        Args:
            plan: The plan.
            timeout: Seconds to wait; ``None`` waits forever. Past it the workflow is
                cancelled (attempts in flight are asked to stop, none starts after).
            name: Workflow name, for the span name.
            workflow_id: Id for the workflow; a new UUID hex by default.
            planning: Tokens spent making ``plan``, by model (``planner.spent``): counted
                in the result's ``usage`` and ``cost`` and against the budget.
            replan: If the workflow fails, re-plan the rest and run it (bounded; see
                :class:`Replan`); ``timeout`` bounds all rounds together.

        Raises:
            PlanValidationError: The plan is invalid.
            BudgetExceeded: The workflow spent more than ``Limits.budget`` and was
                stopped; ``.result`` says what it spent, on what, and what did not run.
            WorkflowTimeout: The workflow did not end within ``timeout`` (also a
                ``TimeoutError``); it carries the workflow id and the partial result.
            WorkflowError: The orchestrator stopped or crashed first.
        """
        workflow_id = workflow_id or uuid.uuid4().hex
        started = time.monotonic()
        future = self.submit(plan, workflow_id=workflow_id, name=name, planning=planning)
        result = wait(future, workflow_id, timeout, self.cancel)
        if replan is None:
            return result
        left = None if timeout is None else timeout - (time.monotonic() - started)
        return replan.run(self, plan, result, timeout=left, name=name)

    def workflow(self, name: str) -> contextlib.AbstractContextManager[trace.Span]:
        """The ``invoke_workflow {name}`` span around planning and runs (see :func:`workflow_span`).

        Example:
            >>> with team.workflow("due_diligence"):  # doctest: +SKIP
            ...     result = team.run(planner.plan(request), name="due_diligence")
        """
        return workflow_span(name, telemetry=self.telemetry)

    def tree(self) -> tuple[ChildInfo, ...]:
        """The supervision tree below the root, as :meth:`Supervisor.tree` reports it."""
        return Supervisor.tree(self.supervisor)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the team within ``timeout`` seconds in total.

        Every running workflow is cancelled first (its future resolves as cancelled,
        its attempts in flight are asked to stop: see :class:`Cancellation`), then the
        tree stops in reverse start order, each child within its shutdown timeout and
        all within what is left of ``timeout``. An agent whose handler ignores
        cancellation and is still running then is abandoned: one WARNING names it, and
        what it publishes later is dropped (counted in :attr:`Agent.dropped_late`).
        """
        deadline = time.monotonic() + timeout
        orchestrator = self.bus.lookup("orchestrator")
        if orchestrator is not None:
            with contextlib.suppress(pykka.ActorDeadError, pykka.Timeout):
                orchestrator.ask(CancelAll("the team is stopping"), timeout=timeout / 2)
        Supervisor.stop_within(self.supervisor, max(0.0, deadline - time.monotonic()))
        if self._owns_bus:
            self.bus.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
