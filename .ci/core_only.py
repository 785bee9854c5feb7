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
    print("core only: imports stay light, a plain team runs, extras are named")
    return 0


if __name__ == "__main__":
    sys.exit(main())
