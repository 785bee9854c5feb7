"""Run by .ci/run in a venv holding `pip install .` alone (no extras): the core works.

Checks that importing the three packages pulls in neither openai, the OpenTelemetry SDK
nor Hypothesis; that a plain Agent team runs a plan; and that the helpers needing an
extra say which `pip install` to run.
"""

from __future__ import annotations

import importlib
import sys


def main() -> int:
    """Check the core alone; raises AssertionError on the first thing that is wrong."""
    import actors  # noqa: PLC0415
    import bus  # noqa: PLC0415
    import memory  # noqa: F401, PLC0415

    heavy = [m for m in ("openai", "opentelemetry.sdk", "hypothesis") if m in sys.modules]
    assert heavy == [], heavy

    class Echo(actors.Agent):
        def handle(self, task: actors.TaskContext) -> object:
            return task.description

    plan = actors.Plan(tasks=[actors.Task(id="t1", agent="echo", description="hi")])
    with actors.Team([Echo.child_spec("echo", b := bus.EventBus())], bus=b) as team:
        assert team.run(plan, timeout=30).answer == "hi"

    for module, extra in (("actors.telemetry", "otlp"), ("actors.testing.plans", "testing")):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            if f"pip install 'actorchestra[{extra}]'" not in str(exc):
                raise AssertionError(f"{module}: the error names no extra: {exc}") from exc
        else:
            raise AssertionError(f"{module} imported without the [{extra}] extra")
    _command_line_without_rich()
    print("core only: imports stay light, a plain team runs, extras are named, the CLI runs")
    return 0


def echo_team(bus: object) -> object:
    """The team ``_command_line_without_rich`` runs (``--team core_only:echo_team``)."""
    import actors  # noqa: PLC0415

    class Echo(actors.Agent):
        def handle(self, task: actors.TaskContext) -> object:
            return task.description

    return actors.Team([Echo.child_spec("echo", bus)], bus=bus)  # type: ignore[arg-type]


def _command_line_without_rich() -> None:
    """``actorchestra run`` works without the [cli] extra: plain lines, exit status 0."""
    import contextlib  # noqa: PLC0415
    import io  # noqa: PLC0415
    import json  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    from actors.cli import main  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        plan = f"{tmp}/plan.json"
        with open(plan, "w") as out:
            json.dump({"tasks": [{"id": "t1", "agent": "echo", "description": "hi"}]}, out)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            status = main(["run", plan, "--team", "core_only:echo_team", "--db", f"{tmp}/e.db"])
    lines = printed.getvalue().splitlines()
    assert status == 0, lines
    assert lines[0].split()[1:3] == ["t1", "running"], lines
    assert lines[-1] == "answer: hi", lines
    assert "rich" not in sys.modules


if __name__ == "__main__":
    sys.exit(main())
