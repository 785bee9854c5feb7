"""``check_protocol``'s redundancy rule (10): replicas on distinct agents, decided by enough."""

from __future__ import annotations

from actors._orchestration.redundancy import Redundancy
from bus import TaskCompleted, TaskFinished, TaskStarted

from ._protocol_state import _fail, _Run

__all__ = ["check_decided", "check_replica", "dispatch_tokens"]


def check_replica(event: TaskStarted, run: _Run, copies: int | None) -> None:
    """Note a dispatch; a replica must belong to a replicated task and a fresh agent.

    ``copies``: the task's ``Redundancy.copies`` (``None``: not replicated).
    """
    wf, tid = event.workflow_id, event.task_id
    if not event.replica:
        if copies is not None:
            msg = (
                f"Task {tid!r} of workflow {wf!r} has a redundancy, yet attempt "
                f"{event.attempt} started on {event.agent!r} as no replica."
            )
            raise _fail(event, msg)
        run.replicas.pop(tid, None)
        return
    if copies is None or event.replica > copies:
        msg = (
            f"Task {tid!r} of workflow {wf!r} started replica {event.replica} of attempt "
            f"{event.attempt}, more than its redundancy allows ({copies or 1} copies)."
        )
        raise _fail(event, msg)
    replicas = run.replicas.get(tid, {})
    if any(r.attempt != event.attempt for r in replicas.values()):
        replicas = {}
    if any(r.agent == event.agent or r.replica == event.replica for r in replicas.values()):
        msg = (
            f"Task {tid!r} of workflow {wf!r} started replica {event.replica} of attempt "
            f"{event.attempt} on {event.agent!r}, which runs a replica of it already (or "
            "the number is taken)."
        )
        raise _fail(event, msg)
    replicas[event.attempt_token] = event
    run.replicas[tid] = replicas


def dispatch_tokens(run: _Run, task_id: str, attempt: int) -> list[str]:
    """The tokens of the task's last dispatches of ``attempt``: its replicas', or the last's."""
    replicas = run.replicas.get(task_id)
    if replicas and next(iter(replicas.values())).attempt == attempt:
        return list(replicas)
    dispatch = run.latest.get(task_id)
    return [dispatch.attempt_token] if dispatch and dispatch.attempt == attempt else []


def check_decided(event: TaskFinished, run: _Run, spec: Redundancy) -> None:
    """A replicated task completed: answered by enough replicas, none still out there."""
    tokens = dispatch_tokens(run, event.task_id, event.attempts)
    completed = [t for t in tokens if ("TaskCompleted", t) in run.answered]
    where = f"Task {event.task_id!r} of workflow {event.workflow_id!r}"
    if len(completed) < spec.needed:
        msg = (
            f"{where} finished as completed with {len(completed)} TaskCompleted of its "
            f"attempt {event.attempts}'s replicas; its redundancy needs {spec.needed}."
        )
        raise _fail(event, msg)
    ended = {token for _, token in run.answered} | run.given_up | run.lost
    if any(t not in ended for t in tokens):
        msg = (
            f"{where} finished as completed while a replica of its attempt "
            f"{event.attempts} was still running (it had not answered, crashed or been "
            "given up on)."
        )
        raise _fail(event, msg)
    if spec.decide == "first" and not any(
        isinstance(o, TaskCompleted) and o.attempt_token in completed and o.result == event.result
        for o in run.outcomes.values()
    ):
        msg = f"{where} finished with a result none of its replicas' TaskCompleted gave."
        raise _fail(event, msg)
