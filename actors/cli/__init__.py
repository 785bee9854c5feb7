"""The ``actorchestra`` command line (also ``python -m actors.cli``).

Commands:

* ``run PLAN.json --team package.module:factory [--db FILE]``: run a plan (a
  :class:`actors.Plan` as JSON) with the team the factory builds, showing one line per
  task (status, attempt, duration, tokens): a table updated in place on a terminal when
  rich is installed (``pip install 'actorchestra[cli]'``), else one plain line per state
  change. ``--spans`` prints the span tree at the end (needs ``[otlp]``), ``--graph``
  the workflow as a Mermaid flowchart coloured by status, ``--approve-interactively``
  asks on the terminal for each approval. ``--db`` records the events in a SQLite
  event log, so the workflow can be read, resumed and decided on later.
* ``log DB [WORKFLOW]``: the workflows of an event log, or one workflow's timeline.
* ``resume DB WORKFLOW --team ...``: continue a workflow whose process died.
* ``approve DB WORKFLOW TASK --team ...`` / ``reject ...``: decide an approval of a
  workflow in the log whose process has stopped: the workflow is resumed here and runs
  to its end. Approvals go to the orchestrator in-process only (the approver API,
  ``shared/DESIGN.md`` invariant 4), so a workflow running in another process cannot be
  decided from here, not over NATS either: there, decide in that process
  (``run --approve-interactively``, or ``Team.approve`` in the application).
* ``llm-server SCRIPT.json``: the local OpenAI-compatible server on 127.0.0.1 with
  scripted replies and fault injection (streaming, ``/v1/models``, and with
  ``--llama-cpp-like`` the limits of llama.cpp's server); prints its base URL, stops on
  SIGINT/SIGTERM.
* ``worker ...``: ``python -m actors.worker`` (agents served over NATS).

The team factory (:data:`TeamFactory`) is called with the command's
:class:`bus.EventBus` (carrying the event log and telemetry) and returns the
:class:`actors.Team` built on it, or a context manager giving that team (to start and
stop what the team needs, e.g. a local LLM server).

Exit status: 0 when the workflow completed (or the command succeeded); 1 when it
failed, was cancelled or timed out, or on a runtime error; 2 for a usage error (a
missing file, an invalid plan, a factory that does not import), printed as one line;
130 when interrupted (Ctrl-C), 143 on SIGTERM (a service manager stopping it): the
workflow is cancelled first, so its record says how it ended.

This package is the top floor of ``actors``: it may import anything, nothing imports it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from bus import ActorchestraError, UsageError

from ._errors import CommandError as CommandError
from ._team import TeamFactory as TeamFactory

__all__ = ["CommandError", "TeamFactory", "main"]


def _team_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--team", required=True, help="package.module:factory of the team")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds (default 600)")
    parser.add_argument("--plain", action="store_true", help="plain lines, even on a terminal")
    parser.add_argument("--spans", action="store_true", help="print the span tree at the end")
    parser.add_argument("--graph", action="store_true", help="print a Mermaid flowchart")
    parser.add_argument(
        "--approve-interactively", action="store_true", help="ask for each approval"
    )


def _parser() -> argparse.ArgumentParser:
    from ._commands import approve_command, resume_command, run_command  # noqa: PLC0415
    from ._llm_server import llm_server_command  # noqa: PLC0415
    from ._log import log_command  # noqa: PLC0415

    parser = argparse.ArgumentParser(
        prog="actorchestra",
        description="Run plans with a live view; read, resume and decide logged workflows.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run a plan with a live view")
    run.add_argument("plan", help="the plan, a JSON file")
    run.add_argument("--db", help="SQLite event log file (created if missing)")
    run.add_argument("--workflow-id", help="the workflow's id (a new one by default)")
    run.add_argument("--name", default="workflow", help="the workflow's name")
    _team_options(run)
    run.set_defaults(handler=run_command)
    log = commands.add_parser("log", help="list workflows, or one workflow's timeline")
    log.add_argument("db", help="SQLite event log file")
    log.add_argument("workflow", nargs="?", help="a workflow id")
    log.set_defaults(handler=log_command)
    resume = commands.add_parser("resume", help="resume a workflow from the event log")
    resume.add_argument("db", help="SQLite event log file")
    resume.add_argument("workflow", help="the workflow id")
    _team_options(resume)
    resume.set_defaults(handler=resume_command)
    for verb in ("approve", "reject"):
        decide = commands.add_parser(verb, help=f"{verb} a task of a stopped workflow, resuming it")
        decide.add_argument("db", help="SQLite event log file")
        decide.add_argument("workflow", help="the workflow id")
        decide.add_argument("task", help="the task awaiting approval")
        decide.add_argument("--by", help="who decides (your login name by default)")
        decide.add_argument("--reason", default="", help="why, for the record")
        _team_options(decide)
        decide.set_defaults(handler=approve_command)
    server = commands.add_parser("llm-server", help="a local OpenAI-compatible server")
    server.add_argument("script", help="JSON list of replies (strings or Reply objects)")
    server.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    server.add_argument(
        "--model", default="fake-model", help="the model it reports when asked for none"
    )
    server.add_argument("--cycle", action="store_true", help="repeat the script forever")
    server.add_argument(
        "--faults", default="", help="fault kinds of the first requests, e.g. rate_limit,none,drop"
    )
    server.add_argument("--fault-probability", action="append", default=[], metavar="KIND=P")
    server.add_argument("--seed", type=int, default=0, help="seed of the drawn faults")
    server.add_argument("--retry-after", type=float, default=0.05, help="seconds, for 429s")
    server.add_argument("--slow-seconds", type=float, default=2.0, help="delay of 'slow'")
    server.add_argument(
        "--llama-cpp-like",
        action="store_true",
        help="refuse json_schema output and non-plain messages, as llama.cpp's server",
    )
    server.add_argument("--lifetime", type=float, help="stop after these seconds")
    server.set_defaults(handler=llm_server_command)
    commands.add_parser("worker", help="python -m actors.worker (see worker --help)")
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM came: handled as Ctrl-C (the workflow is cancelled), exit status 143."""


def _terminated(_signum: int, _frame: object) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command in ``argv`` (``sys.argv[1:]`` by default); returns the exit status.

    Errors are one line on standard error (``ACTORCHESTRA_TRACEBACK=1`` shows the
    traceback of an unexpected one).
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["worker"]:
        from actors.worker.__main__ import main as worker_main  # noqa: PLC0415

        return worker_main(args_list[1:])
    args = _parser().parse_args(args_list)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)  # as Ctrl-C: cancel, then exit
    try:
        return int(args.handler(args))
    except Terminated:
        print("actorchestra: terminated (SIGTERM); the workflow was cancelled", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("actorchestra: interrupted; the workflow was cancelled", file=sys.stderr)
        return 130
    except UsageError as exc:
        print(f"actorchestra: error: {exc}", file=sys.stderr)
        return 2
    except ActorchestraError as exc:
        print(f"actorchestra: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        if os.environ.get("ACTORCHESTRA_TRACEBACK"):
            raise
        print(f"actorchestra: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
