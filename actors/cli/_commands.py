"""``run``, ``resume``, ``approve`` and ``reject``: a workflow to its end, with a live view."""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Callable

import pykka

from actors._orchestration.plan import Plan
from actors._orchestration.result import WorkflowResult
from actors._orchestration.team import Team
from bus import ApprovalRequested, WorkflowStarted

from ._errors import CommandError
from ._follow import Decider, ask_on_terminal, follow
from ._progress import Progress
from ._session import Session, open_log, session
from ._team import load_plan, load_team_factory, open_team
from ._view import make_view
from ._watch import watch

__all__ = ["approve_command", "resume_command", "run_command"]

Start = Callable[[Team], pykka.Future[WorkflowResult]]


def run_command(args: argparse.Namespace) -> int:
    """``actorchestra run PLAN --team F``: run the plan; 0 if the workflow completed."""
    plan = load_plan(args.plan)
    workflow_id = args.workflow_id or uuid.uuid4().hex
    progress = Progress([(t.id, t.agent) for t in plan.tasks])

    def start(team: Team) -> pykka.Future[WorkflowResult]:
        return team.submit(plan, workflow_id=workflow_id, name=args.name)

    decide = ask_on_terminal if args.approve_interactively else None
    return _drive(
        args,
        start,
        progress,
        db=args.db,
        workflow_id=workflow_id,
        decide=decide,
        plan=plan,
        must_exist=False,
    )


def resume_command(args: argparse.Namespace) -> int:
    """``actorchestra resume DB WORKFLOW --team F``: continue it; 0 if it completed."""
    decide = ask_on_terminal if args.approve_interactively else None
    return _resume(args, *_logged(args.db, args.workflow), decide)


def approve_command(args: argparse.Namespace) -> int:
    """``actorchestra approve|reject DB WORKFLOW TASK --team F``: resume it and decide.

    The workflow's own process must have stopped: the decision is made by the
    orchestrator this command resumes the workflow in (the approver API is in-process);
    the workflow then runs here to its end.
    """
    progress, plan = _logged(args.db, args.workflow)
    row = progress.rows.get(args.task)
    if progress.status != "running" or row is None or row.status != "awaiting approval":
        state = f"workflow {progress.status}" if row is None else f"task {row.status}"
        msg = f"task {args.task!r} of workflow {args.workflow!r} awaits no approval ({state})"
        raise CommandError(msg)
    approved = args.command == "approve"

    def decide(request: ApprovalRequested) -> tuple[bool, str] | None:
        if request.task_id == args.task:
            return approved, args.reason
        return ask_on_terminal(request) if args.approve_interactively else None

    return _resume(args, progress, plan, decide)


def _resume(
    args: argparse.Namespace, progress: Progress, plan: Plan | None, decide: Decider | None
) -> int:
    def start(team: Team) -> pykka.Future[WorkflowResult]:
        return team.resume(args.workflow)

    return _drive(
        args,
        start,
        progress,
        db=args.db,
        workflow_id=args.workflow,
        decide=decide,
        plan=plan,
        must_exist=True,
    )


def _logged(db: str, workflow_id: str) -> tuple[Progress, Plan | None]:
    """The workflow's rows as its logged events leave them, and its plan."""
    log = open_log(db, must_exist=True)
    try:
        events = log.events(workflow_id)
    finally:
        log.close()
    if not events:
        msg = f"{db}: no workflow {workflow_id!r} (`actorchestra log {db}` lists them)"
        raise CommandError(msg)
    progress = Progress()
    plan = None
    for event in events:
        progress.apply(event)
        if plan is None and isinstance(event, WorkflowStarted):
            plan = Plan.model_validate(event.plan)
    return progress, plan


def _drive(
    args: argparse.Namespace,
    start: Start,
    progress: Progress,
    *,
    db: str | None,
    workflow_id: str,
    decide: Decider | None,
    plan: Plan | None,
    must_exist: bool,
) -> int:
    factory = load_team_factory(args.team)
    with session(db, spans=args.spans, must_exist=must_exist) as s:
        with open_team(factory, s.bus, args.team) as team:
            events, subscription = watch(team.bus, workflow_id)
            future = start(team)
            view = make_view(progress, f"workflow {workflow_id}", plain=args.plain)
            for row in progress.rows.values():
                if row.status != "pending":
                    view.changed(row)  # as the log left it
            result = follow(
                team,
                future,
                events,
                progress,
                view,
                workflow_id=workflow_id,
                timeout=args.timeout,
                decide=decide,
                by=getattr(args, "by", None),
            )
            team.bus.unsubscribe(subscription)
        _report(args, s, workflow_id, result, plan)
    return 0 if result is not None and result.ok else 1


def _report(
    args: argparse.Namespace,
    s: Session,
    workflow_id: str,
    result: WorkflowResult | None,
    plan: Plan | None,
) -> None:
    if result is None:
        print(f"workflow {workflow_id}: no result within {args.timeout:g} s; it was cancelled")
    else:
        tokens = result.usage.total_tokens
        status = result.status.value
        print(f"workflow {workflow_id}: {status} in {result.duration:.2f} s, {tokens} tokens")
        if result.answer is not None:
            answer = result.answer
            print(f"answer: {answer if isinstance(answer, str) else json.dumps(answer)}")
    if args.graph and plan is not None:
        print(plan.to_mermaid(result))
    if args.spans:
        print(s.span_tree())
