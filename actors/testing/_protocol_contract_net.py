"""``check_protocol``'s contract-net rule (8): announce, bid, award once, start the winner."""

from __future__ import annotations

from bus import Award, Bid, CallForProposals, TaskStarted

from ._protocol_state import _fail, _Run

__all__ = ["check_awarded", "check_contract_net"]


def check_contract_net(event: CallForProposals | Bid | Award, run: _Run) -> None:
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


def check_awarded(event: TaskStarted, run: _Run) -> None:
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
