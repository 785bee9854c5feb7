"""``check_protocol``: the protocol invariants of ``shared/DESIGN.md``, on a recorded run."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import JsonValue

from actors._orchestration.identity import attempt_token_of
from actors._orchestration.plan import Plan, Task
from bus import (
    AgentJoined,
    ApprovalDecided,
    Award,
    Bid,
    CallForProposals,
    CancelRequested,
    ChildCrashed,
    DeadLetter,
    Delegated,
    Event,
    EventRejected,
    Handoff,
    TaskCompleted,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    WorkflowFinished,
    WorkflowResumed,
    WorkflowStarted,
)

from ._protocol_contract_net import check_awarded as _check_awarded
from ._protocol_contract_net import check_contract_net as _check_contract_net
from ._protocol_redundancy import check_decided, check_replica, dispatch_tokens
from ._protocol_state import _NEEDED, ProtocolViolation, _fail, _Run

__all__ = ["ProtocolViolation", "check_protocol"]


def check_protocol(events: Iterable[Event]) -> None:
    """Check a recorded event stream (in publish order) against the protocol invariants.

    Record with :class:`actors.testing.EventRecorder` on the bus from before a workflow
    is submitted until its future resolved. Per workflow (from its ``WorkflowStarted``):

    1. **Conservation** — every task of the plan ends in exactly one ``TaskFinished``;
       none ends twice, none unknown ends, and none is missing once ``WorkflowFinished``
       was published. A task finished as ``completed`` had a ``TaskCompleted`` (or a
       ``Delegated``, rule 9) for its last attempt.
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
       ``TaskFailed`` (or ``Delegated``), or (kind ``handoff``) such a ``Handoff``; a
       handed-off task starts again only after such a ``Handoff``. No outcome carrying
       its attempt's token is rejected (``EventRejected``).
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
    9. **Delegation** — a child workflow (a ``WorkflowStarted`` naming a parent
       workflow and task) starts only for a running parent task whose last dispatch
       was answered by a ``Delegated`` carrying its token; its tasks are checked as
       any workflow's (each ends exactly once). A task ends only after every child
       workflow it started finished (a parent's end leaves no child task unfinished);
       one finished as completed through a ``Delegated`` needs its last child to have
       finished completed. Nothing starts in a workflow after its
       ``WorkflowFinished``.

    10. **Redundancy** — a task with a ``redundancy`` starts only replicas, and a
        ``TaskStarted`` with a ``replica`` number belongs to such a task, numbered at
        most its ``copies``, each replica of an attempt on another agent (a resume
        starts them afresh); an outcome carrying any replica's token answers it, unless
        published after a ``CancelRequested`` with its token (given up on: it answers
        nothing, for any task). A replicated task finished as completed had a
        ``TaskCompleted`` from at least ``Redundancy.needed`` replicas of its last
        attempt (one for ``"first"``, whose result is the task's; the quorum for a
        vote), and each of that attempt's replicas had answered or was given up on.

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
            _check_child_start(event, runs)
            continue
        run = runs.get(event.workflow_id)
        if run is None:
            continue
        if isinstance(event, TaskStarted):
            _check_awarded(event, run)
            _check_start(event, run)
        elif isinstance(event, CallForProposals | Bid | Award):
            _check_contract_net(event, run)
        elif isinstance(event, TaskCompleted | TaskFailed | Handoff | Delegated):
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
        elif isinstance(event, WorkflowResumed):
            run.replicas.clear()  # the dispatches in flight start afresh
        elif isinstance(event, CancelRequested):
            run.given_up.add(event.attempt_token)
        elif isinstance(event, ChildCrashed | DeadLetter):
            token = attempt_token_of(event)  # the attempt it ended, if any
            if token:
                run.lost.add(token)


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
    if tid in run.finished or run.done:
        what = "its workflow" if run.done else "it"
        msg = (
            f"Task {tid!r} of workflow {wf!r} started attempt {event.attempt} after {what} "
            "finished."
        )
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
    check_replica(event, run, task.redundancy.copies if task.redundancy else None)
    run.latest[tid] = event
    if event.attempt_token:
        run.issued[event.attempt_token] = f"{tid}/{event.attempt}"


def _answered(event: TaskCompleted | TaskFailed | Handoff | Delegated, run: _Run) -> None:
    """Note an outcome; it answers its dispatch if it carries that dispatch's token."""
    run.outcomes[event.id] = event
    if event.attempt_token in run.given_up:
        return  # published after its dispatch was given up on: it answers nothing
    if event.attempt_token in dispatch_tokens(run, event.task_id, event.attempt):
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
    _check_children_ended(event, run)
    needed = _NEEDED.get(event.status if event.status == "completed" else event.error_kind or "")
    if (
        needed is not None
        and not (tid in run.carried and event.status == "completed")
        and not _ended_through_child(event, run)
    ):
        tokens = dispatch_tokens(run, tid, event.attempts)
        if not any((answer, t) in run.answered for t in tokens for answer in needed):
            msg = (
                f"Task {tid!r} of workflow {wf!r} finished as {event.status} without a "
                f"{' or '.join(needed)} carrying the token of its attempt {event.attempts}."
            )
            raise _fail(event, msg)
    spec = _task(run, event).redundancy
    if spec is not None and event.status == "completed" and tid not in run.carried:
        check_decided(event, run, spec)
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
    run.status = event.status


def _check_child_start(event: WorkflowStarted, runs: dict[str, _Run]) -> None:
    """A child workflow starts for a running parent task that delegated (rule 9)."""
    parent = runs.get(event.parent_workflow_id) if event.parent_workflow_id else None
    if parent is None:
        return  # a workflow submitted directly, or one whose parent was not recorded
    tid, wf = event.parent_task_id, event.parent_workflow_id
    dispatch = parent.latest.get(tid)
    if (
        tid in parent.finished
        or dispatch is None
        or ("Delegated", dispatch.attempt_token) not in parent.answered
    ):
        msg = (
            f"Child workflow {event.workflow_id!r} of task {tid!r} of workflow {wf!r} started "
            "without a Delegated carrying the token of the task's running attempt."
        )
        raise ProtocolViolation(msg, workflow_id=wf, task_id=tid)
    parent.children.setdefault(tid, []).append(runs[event.workflow_id])


def _check_children_ended(event: TaskFinished, run: _Run) -> None:
    for child in run.children.get(event.task_id, ()):
        if not child.done:
            msg = (
                f"Task {event.task_id!r} of workflow {event.workflow_id!r} finished as "
                f"{event.status} while a child workflow it delegated to had not finished."
            )
            raise _fail(event, msg)


def _ended_through_child(event: TaskFinished, run: _Run) -> bool:
    """Whether the task's last dispatch delegated (then its outcome was its child's).

    A task failed (kind ``error``) after delegating failed through its child or an
    invalid sub-plan; one completed through a ``Delegated`` needs its last child
    completed, else this raises.
    """
    dispatch = run.latest.get(event.task_id)
    if dispatch is None or dispatch.attempt != event.attempts or dispatch.replica:
        return False  # (a replica that delegated started no child: its attempt failed)
    if ("Delegated", dispatch.attempt_token) not in run.answered:
        return False
    if event.status != "completed":
        return True
    children = run.children.get(event.task_id, [])
    if not children or children[-1].status != "completed":
        msg = (
            f"Task {event.task_id!r} of workflow {event.workflow_id!r} finished as completed "
            "through a Delegated whose child workflow did not complete."
        )
        raise _fail(event, msg)
    return True
