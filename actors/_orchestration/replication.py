"""Replication: run a task's attempt on several agents; the first result or a vote ends it.

The orchestrator's side of :class:`Redundancy`: each replica is a dispatch of the same
attempt (a ``TaskStarted`` with its own token and ``replica`` number) on a distinct
agent. An outcome is applied only with a replica's token, and once per replica; when
the attempt is decided (a first result, a vote, or every replica failed) the replicas
still running are given up on (asked to cancel; their late outcomes are counted as
``late_replies``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pydantic import JsonValue

from actors._json_value import canonical_json, to_json_value
from bus import Delegated, Event, FailureKind, Handoff, TaskCompleted, TaskFailed

from .dispatch import Dispatching
from .identity import Failure, failure_of
from .redundancy import Ballot, NoConsensus
from .result import TaskStatus
from .retries import Retries
from .workflow_state import AttemptTimedOut, RetryDue, TaskRun, Workflow

__all__ = ["Replica", "Replicas", "Replication"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Replica:
    """One dispatch of a replicated attempt."""

    agent: str
    number: int
    token: str
    running: bool = True
    completed: bool = False
    result: JsonValue = None


@dataclass(slots=True)
class Replicas:
    """The replicas of the attempt in flight (``TaskRun.replicas``) and their outcomes."""

    by_token: dict[str, Replica] = field(default_factory=dict)
    failures: list[tuple[str, Failure]] = field(default_factory=list)  # agent, failure

    def live(self, token: str) -> Replica | None:
        """The replica still running with ``token``, if any."""
        replica = self.by_token.get(token)
        return replica if replica is not None and replica.running else None

    @property
    def running(self) -> list[Replica]:
        return [r for r in self.by_token.values() if r.running]

    @property
    def completed(self) -> list[Replica]:
        return sorted((r for r in self.by_token.values() if r.completed), key=lambda r: r.number)


class Replication(Retries, Dispatching):
    """Starts replicated attempts, takes each replica's outcome, decides the attempt."""

    def _start_attempt(
        self, wf: Workflow, run: TaskRun, *, new_attempt: bool, route: bool = True
    ) -> None:
        spec = run.task.redundancy
        if spec is None or not route:
            super()._start_attempt(wf, run, new_attempt=new_attempt, route=route)
            return
        limit = self.limits.max_in_flight
        agents = self._router.spread(run.target, spec.copies, spec.needed, limit)
        if len(agents) < spec.needed:
            there = len(self._router.candidates(run.target))
            if there >= spec.needed:
                # Busy now: wait for room on enough agents (the waiting room's count).
                run.retry_pending = run.retry_pending or not new_attempt
                self._waiting_room.add(wf, run)
                return
            run.attempts += new_attempt
            run.status = TaskStatus.RUNNING  # an attempt that could not be sent
            error = (
                f"task undeliverable: its vote needs {spec.needed} agents and "
                f"{run.target!r} has {there}"
            )
            self._failed(wf, run, FailureKind.UNDELIVERABLE, error, retryable=True)
            return
        if new_attempt:
            run.attempts += 1
        group = run.replicas = Replicas()
        for number, agent in enumerate(agents, 1):
            run.agent, run.replica = agent, number
            super()._start_attempt(wf, run, new_attempt=False, route=False)
            if run.status is not TaskStatus.RUNNING or run.replicas is not group:
                break  # a limit (max_steps) stopped the workflow
            group.by_token[run.attempt_token] = Replica(agent, number, run.attempt_token)
            run.on_agent = None  # each replica's agent is accounted for here
        run.replica, run.attempt_token = 0, ""  # no single dispatch is current

    def _on_replica_event(self, wf: Workflow, run: TaskRun, event: Event, token: str) -> None:
        """Apply ``event``, an outcome carrying the token of a replica still running."""
        group = run.replicas
        replica = group.live(token) if group is not None else None
        if group is None or replica is None:
            return
        agent = replica.agent
        if isinstance(event, TaskCompleted):
            if event.agent != agent:
                return
            replica.running, replica.completed = False, True
            self._router.finished(agent, ok=True)
            if run.task.redundancy is not None and run.task.redundancy.decide == "first":
                run.agent = agent
                self._decided(wf, run, won=True)
                self._completed(wf, run, event)
                return
            wf.spend(run, event.usage, event.model)
            replica.result = event.result
            self._vote(wf, run)
            return
        if isinstance(event, Handoff | Delegated):
            if (event.from_agent if isinstance(event, Handoff) else event.agent) != agent:
                return
            kind = FailureKind.HANDOFF if isinstance(event, Handoff) else FailureKind.ERROR
            error = (
                f"RedundancyError: replica {replica.number} ({agent}) "
                f"{'handed it off' if kind is FailureKind.HANDOFF else 'delegated it'}; "
                "a replicated task cannot be handed off or delegated"
            )
            failure: Failure | None = Failure(kind, error, retryable=False)
        else:
            failure = failure_of(event, agent)
        if failure is None:
            return
        if isinstance(event, TaskFailed | Handoff | Delegated):
            wf.spend(run, event.usage, event.model)
        replica.running = False
        self._router.finished(agent, ok=False)
        group.failures.append((agent, failure))
        if not group.running:
            self._vote(wf, run)

    def _vote(self, wf: Workflow, run: TaskRun, *, timed_out: bool = False) -> None:
        """Decide the attempt once no replica runs (or at its timeout): complete or fail it."""
        group, spec = run.replicas, run.task.redundancy
        if group is None or spec is None or (group.running and not timed_out):
            return
        ballots = [Ballot(r.agent, r.number, r.result) for r in group.completed]
        if len(ballots) < spec.needed:
            self._decided(wf, run, won=False, failure=timed_out)
            if not ballots:  # every replica failed: as the last did
                run.agent, last = group.failures[-1]
                retryable = all(f.retryable for _, f in group.failures)
                self._failed(wf, run, last.kind, last.error, retryable=retryable)
                return
            error = (
                f"NoConsensus: {len(ballots)} of {len(group.by_token)} replicas completed; "
                f"the vote needs {spec.needed}"
            )
            self._failed(wf, run, FailureKind.NO_CONSENSUS, error, retryable=True)
            return
        try:
            decided = to_json_value(self.reducers[spec.reducer](ballots))
        except NoConsensus as exc:
            self._decided(wf, run, won=False, failure=timed_out)
            error = f"NoConsensus: {exc}"
            self._failed(wf, run, FailureKind.NO_CONSENSUS, error, retryable=exc.retryable)
            return
        except Exception as exc:  # a reducer's fault fails its task, nothing more
            # Not logger.exception: the message may quote the results (model text).
            logger.error(
                "Reducer %r raised %s deciding %s/%s", spec.reducer, type(exc).__name__,
                wf.id, run.task.id,
            )  # fmt: skip
            self._decided(wf, run, won=False, failure=timed_out)
            error = f"ReducerError: reducer {spec.reducer!r} raised {type(exc).__name__}: {exc}"
            self._failed(wf, run, FailureKind.ORCHESTRATOR, error, retryable=False)
            return
        key = canonical_json(decided)
        run.agent = next((b.agent for b in ballots if canonical_json(b.result) == key), "")
        run.agent = run.agent or ballots[0].agent
        self._decided(wf, run, won=True, failure=timed_out)
        self._complete(wf, run, decided)

    def _decided(self, wf: Workflow, run: TaskRun, *, won: bool, failure: bool = False) -> None:
        """The attempt is decided (``won``: completed by ``run.agent``'s result, or failed).

        The replicas still running are given up on (only those that ran past the
        attempt's timeout, ``failure``, count as failures of their agents for the
        circuit breaker), and an event of the workflow's span says how it was decided.
        """
        reason = "timeout" if failure else "cancelled: the attempt was decided without it"
        group = self._give_up_replicas(wf, run, reason, failure=failure)
        if group is not None and run.task.redundancy is not None:
            wf.span.add_event(
                "redundancy.decide",
                {
                    "actorchestra.task.id": run.task.id,
                    "actorchestra.task.attempt": run.attempts,
                    "actorchestra.redundancy.decide": run.task.redundancy.decide,
                    "actorchestra.redundancy.replicas": len(group.by_token),
                    "actorchestra.redundancy.completed": len(group.completed),
                    "actorchestra.redundancy.winner": run.agent if won else "",
                },
            )

    def _give_up(self, wf: Workflow, run: TaskRun, reason: str, *, failure: bool = False) -> None:
        self._give_up_replicas(wf, run, reason, failure=failure)
        super()._give_up(wf, run, reason, failure=failure)

    def _give_up_replicas(
        self, wf: Workflow, run: TaskRun, reason: str, *, failure: bool
    ) -> Replicas | None:
        """Give up on the replicas still running; ``run.replicas`` (returned) is cleared."""
        group, run.replicas = run.replicas, None
        for replica in group.running if group is not None else ():
            replica.running = False
            self._give_up_dispatch(wf, run, replica.agent, replica.token, reason, failure=failure)
        return group

    def _on_timer(self, wf: Workflow, msg: AttemptTimedOut | RetryDue) -> None:
        """At a vote's timeout, decide with the replicas that completed, if enough did."""
        run = wf.tasks[msg.task_id]
        spec, group = run.task.redundancy, run.replicas
        if (
            isinstance(msg, AttemptTimedOut)
            and spec is not None
            and group is not None
            and spec.decide == "vote"
            and run.status is TaskStatus.RUNNING
            and run.attempts == msg.attempt
            and msg.dispatch == run.dispatches
            and len(group.completed) >= spec.needed
        ):
            run.timer = None
            self._vote(wf, run, timed_out=True)
            return
        super()._on_timer(wf, msg)
