"""``check_protocol``: the protocol invariants of ``shared/DESIGN.md``, on a recorded run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import JsonValue

from actors._orchestration.plan import Plan, Task
from bus import (
    AgentJoined,
    ApprovalDecided,
    Award,
    Bid,
    CallForProposals,
    Event,
    EventRejected,
    FailureKind,
    Handoff,
    TaskCompleted,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    WorkflowFinished,
    WorkflowStarted,
)

__all__ = ["ProtocolViolation", "check_protocol"]


class ProtocolViolation(AssertionError):  # noqa: N818 - it is an assertion, named as the rule
    """A recorded event stream breaks a protocol invariant; the message says which, and where.

    Attributes:
        workflow_id: The workflow.
        task_id: The offending task (``""`` if the workflow as a whole).
    """

    def __init__(self, message: str, *, workflow_id: str, task_id: str = "") -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.task_id = task_id


# The outcome event a task's end needs, by its status or failure kind.
_NEEDED: dict[str, str] = {
    "completed": "TaskCompleted",
    FailureKind.ERROR: "TaskFailed",
    FailureKind.HANDOFF: "Handoff",
}


@dataclass
class _Run:
    plan: Plan
    agents: frozenset[str]
    orchestrator: str  # WorkflowStarted.source: the only publisher of decisions
    finished: dict[str, TaskFinished] = field(default_factory=dict)
    latest: dict[str, TaskStarted] = field(default_factory=dict)  # each task's last dispatch
    issued: dict[str, str] = field(default_factory=dict)  # token -> "task/attempt"
    answered: set[tuple[str, str]] = field(default_factory=set)  # (class, token) of outcomes
    outcomes: dict[str, TaskCompleted | TaskFailed | Handoff] = field(default_factory=dict)
    approved: set[str] = field(default_factory=set)
    carried: frozenset[str] = frozenset()  # completed in the workflow it re-plans
    done: bool = False
    calls: dict[str, str] = field(default_factory=dict)  # cfp_id -> "task/attempt"
    offers: set[tuple[str, str]] = field(default_factory=set)  # (cfp_id, agent) that bid
    awards: dict[str, Award] = field(default_factory=dict)  # "task/attempt" -> its award
    sent: set[str] = field(default_factory=set)  # "task/attempt" awarded and started


def check_protocol(events: Iterable[Event]) -> None:
    """Check a recorded event stream (in publish order) against the protocol invariants.

    Record with :class:`actors.testing.EventRecorder` on the bus from before a workflow
    is submitted until its future resolved. Per workflow (from its ``WorkflowStarted``):

    1. **Conservation** — every task of the plan ends in exactly one ``TaskFinished``;
       none ends twice, none unknown ends, and none is missing once ``WorkflowFinished``
       was published. A task finished as ``completed`` had a ``TaskCompleted`` for its
       last attempt.
    2. **Order** — no ``TaskStarted`` of a task before every dependency finished
       (as completed, but for its ``optional`` ones) and, if it has a condition,
       while the condition is false on the completed dependencies' results; none
       after the task itself finished.
    3. **Bounds** — no attempt number above the task's ``max_attempts``.
    4. **Static graph and identity** — every ``TaskStarted`` names a declared agent
       (one of its ``WorkflowStarted``'s, or one that joined since: ``AgentJoined``).
       An outcome counts only with the ``attempt_token`` of the dispatch it answers
       (its task's last ``TaskStarted``, same attempt): a task finished as completed
       had such a ``TaskCompleted``; one failed by its agent (kind ``error``) such a
       ``TaskFailed``, or (kind ``handoff``) such a ``Handoff``; a handed-off task
       starts again only after such a ``Handoff``. No outcome carrying its attempt's
       token is rejected (``EventRejected``).
    5. **Approval** — a task that needs approval starts only after an approval the
       orchestrator published (``source`` as its ``WorkflowStarted``'s).
    6. **Re-plans** — a task its ``WorkflowStarted`` lists as ``carried`` (completed
       in the workflow it re-plans) finishes as completed without an outcome, and
       never starts.
    7. **Skipping** — a task finished as ``skipped`` never started, and either a
       dependency it requires finished as skipped, or every dependency had finished
       and its condition is false on their results.
    8. **Contract net** — an attempt is announced (``CallForProposals``) before it
       starts, and awarded at most once, only after its announcement (an ``Award``
       naming that call, task and attempt); an award that is not a fallback goes to
       an agent that bid for that call (not declined) before it; no ``TaskStarted`` of
       an announced attempt before its award, and its first one goes to the winner.

    Raises:
        ProtocolViolation: The first violation, explained in one sentence that names the
            workflow and the task.
    """
    runs: dict[str, _Run] = {}
    for event in events:
        if isinstance(event, AgentJoined):
            for started in runs.values():
                started.agents |= {event.agent}
            continue
        if isinstance(event, WorkflowStarted):
            plan = Plan.model_validate(event.plan)
            runs[event.workflow_id] = _Run(
                plan, frozenset(event.agents), event.source, carried=frozenset(event.carried)
            )
            continue
        run = runs.get(event.workflow_id)
        if run is None:
            continue
        if isinstance(event, TaskStarted):
            _check_awarded(event, run)
            _check_start(event, run)
        elif isinstance(event, CallForProposals | Bid | Award):
            _check_contract_net(event, run)
        elif isinstance(event, TaskCompleted | TaskFailed | Handoff):
            _answered(event, run)
        elif isinstance(event, EventRejected):
            _check_rejected(event, run)
        elif isinstance(event, ApprovalDecided):
            if event.approved and event.source == run.orchestrator:
                run.approved.add(event.task_id)
        elif isinstance(event, TaskFinished):
            _check_finish(event, run)
        elif isinstance(event, WorkflowFinished):
            _check_end(event, run)


def _fail(event: Event, message: str) -> ProtocolViolation:
    return ProtocolViolation(message, workflow_id=event.workflow_id, task_id=event.task_id)


def _task(run: _Run, event: Event) -> Task:
    for task in run.plan.tasks:
        if task.id == event.task_id:
            return task
    msg = (
        f"Workflow {event.workflow_id!r} has no task {event.task_id!r}, "
        f"yet a {event.type} names it."
    )
    raise _fail(event, msg)


def _check_start(event: TaskStarted, run: _Run) -> None:
    wf, tid = event.workflow_id, event.task_id
    task = _task(run, event)
    if tid in run.carried:
        msg = f"Task {tid!r} of workflow {wf!r} was carried over as completed, yet it started."
        raise _fail(event, msg)
    if tid in run.finished:
        msg = f"Task {tid!r} of workflow {wf!r} started attempt {event.attempt} after it finished."
        raise _fail(event, msg)
    for dep in task.depends_on:
        done = run.finished.get(dep)
        if done is None or (done.status != "completed" and dep not in task.optional):
            msg = (
                f"Task {tid!r} of workflow {wf!r} started before its dependency {dep!r} completed."
            )
            raise _fail(event, msg)
    if task.when is not None and not task.when.holds(_results(run, task)):
        msg = (
            f"Task {tid!r} of workflow {wf!r} started though its condition ({task.when}) is false."
        )
        raise _fail(event, msg)
    if task.needs_approval and tid not in run.approved:
        msg = f"Task {tid!r} of workflow {wf!r} started without the approval it needs."
        raise _fail(event, msg)
    max_attempts = task.max_attempts
    if event.attempt > max_attempts:
        msg = (
            f"Task {tid!r} of workflow {wf!r} started attempt {event.attempt}, "
            f"more than its max_attempts of {max_attempts}."
        )
        raise _fail(event, msg)
    if run.agents and event.agent not in run.agents:
        msg = f"Task {tid!r} of workflow {wf!r} was sent to undeclared agent {event.agent!r}."
        raise _fail(event, msg)
    before = run.latest.get(tid)
    if (
        before is not None
        and before.attempt == event.attempt
        and event.handoff_depth == before.handoff_depth + 1
        and ("Handoff", before.attempt_token) not in run.answered
    ):
        msg = (
            f"Task {tid!r} of workflow {wf!r} was handed to {event.agent!r} without a "
            f"Handoff carrying the token of its attempt {event.attempt}."
        )
        raise _fail(event, msg)
    run.latest[tid] = event
    if event.attempt_token:
        run.issued[event.attempt_token] = f"{tid}/{event.attempt}"


def _check_contract_net(event: CallForProposals | Bid | Award, run: _Run) -> None:
    wf, tid, key = event.workflow_id, event.task_id, f"{event.task_id}/{event.attempt}"
    if isinstance(event, Bid):
        if not event.declined:
            run.offers.add((event.cfp_id, event.agent))
        return
    if isinstance(event, CallForProposals):
        started = run.latest.get(tid)
        if started is not None and started.attempt == event.attempt:
            msg = f"Task {tid!r} of workflow {wf!r} was announced after its attempt started."
            raise _fail(event, msg)
        run.calls.setdefault(event.cfp_id, key)
        return
    if run.calls.get(event.cfp_id) != key:
        msg = f"Task {tid!r} of workflow {wf!r} was awarded without a call for that attempt."
        raise _fail(event, msg)
    if key in run.awards:
        msg = f"Task {tid!r} of workflow {wf!r} was awarded twice for attempt {event.attempt}."
        raise _fail(event, msg)
    if not event.fallback and (event.cfp_id, event.winner) not in run.offers:
        msg = (
            f"Task {tid!r} of workflow {wf!r} was awarded to {event.winner!r}, "
            f"which made no offer for attempt {event.attempt}."
        )
        raise _fail(event, msg)
    run.awards[key] = event


def _check_awarded(event: TaskStarted, run: _Run) -> None:
    wf, tid, key = event.workflow_id, event.task_id, f"{event.task_id}/{event.attempt}"
    if key in run.sent or key not in run.calls.values():
        return  # not announced, or a handoff after the award's start
    award = run.awards.get(key)
    if award is None:
        msg = f"Task {tid!r} of workflow {wf!r} started attempt {event.attempt} before its award."
        raise _fail(event, msg)
    if event.agent != award.winner:
        msg = (
            f"Task {tid!r} of workflow {wf!r} attempt {event.attempt} was sent to "
            f"{event.agent!r}, not to {award.winner!r}, which won it."
        )
        raise _fail(event, msg)
    run.sent.add(key)


def _answered(event: TaskCompleted | TaskFailed | Handoff, run: _Run) -> None:
    """Note an outcome; it answers its dispatch if it carries that dispatch's token."""
    run.outcomes[event.id] = event
    dispatch = run.latest.get(event.task_id)
    if (
        dispatch is not None
        and dispatch.attempt == event.attempt
        and dispatch.attempt_token == event.attempt_token
    ):
        run.answered.add((type(event).__name__, event.attempt_token))


def _check_rejected(event: EventRejected, run: _Run) -> None:
    rejected = run.outcomes.get(event.causation_id)
    if rejected is None:
        return
    if run.issued.get(rejected.attempt_token) == f"{rejected.task_id}/{rejected.attempt}":
        msg = (
            f"Task {rejected.task_id!r} of workflow {rejected.workflow_id!r}: a "
            f"{rejected.type} carrying the token of its attempt {rejected.attempt} "
            "was rejected."
        )
        raise _fail(rejected, msg)


def _check_finish(event: TaskFinished, run: _Run) -> None:
    wf, tid = event.workflow_id, event.task_id
    _task(run, event)
    before = run.finished.get(tid)
    if before is not None:
        msg = f"Task {tid!r} of workflow {wf!r} ended twice: {before.status}, then {event.status}."
        raise _fail(event, msg)
    if event.status == "skipped":
        _check_skipped(event, run, _task(run, event))
    needed = _NEEDED.get(event.status if event.status == "completed" else event.error_kind or "")
    if needed is not None and not (tid in run.carried and event.status == "completed"):
        dispatch = run.latest.get(tid)
        token = dispatch.attempt_token if dispatch and dispatch.attempt == event.attempts else None
        if token is None or (needed, token) not in run.answered:
            msg = (
                f"Task {tid!r} of workflow {wf!r} finished as {event.status} without a "
                f"{needed} carrying the token of its attempt {event.attempts}."
            )
            raise _fail(event, msg)
    run.finished[tid] = event


def _results(run: _Run, task: Task) -> dict[str, JsonValue]:
    """The results of ``task``'s dependencies that finished as completed, by id."""
    done = run.finished
    return {
        d: done[d].result for d in task.depends_on if d in done and done[d].status == "completed"
    }


def _check_skipped(event: TaskFinished, run: _Run, task: Task) -> None:
    wf, tid = event.workflow_id, event.task_id
    if tid in run.latest:
        msg = f"Task {tid!r} of workflow {wf!r} finished as skipped after it started."
        raise _fail(event, msg)
    ended = [run.finished.get(d) for d in task.depends_on]
    required_skipped = any(
        e is not None and e.status == "skipped" and e.task_id not in task.optional for e in ended
    )
    all_ended = all(e is not None for e in ended)
    false = task.when is not None and all_ended and not task.when.holds(_results(run, task))
    if not (required_skipped or false):
        msg = (
            f"Task {tid!r} of workflow {wf!r} was skipped, yet no dependency it requires was "
            "skipped and it has no condition that is false."
        )
        raise _fail(event, msg)


def _check_end(event: WorkflowFinished, run: _Run) -> None:
    missing = [t.id for t in run.plan.tasks if t.id not in run.finished]
    if missing:
        msg = (
            f"Workflow {event.workflow_id!r} finished while task {missing[0]!r} "
            "had not ended (a task was lost)."
        )
        raise ProtocolViolation(msg, workflow_id=event.workflow_id, task_id=missing[0])
    run.done = True
