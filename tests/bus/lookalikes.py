"""A script: OpenTelemetry classes replaced by look-alikes, then the bus imported.

Only ``main`` replaces them: importing this module changes nothing.

Public interface, different layout (``__slots__``, other private names): what a future
OpenTelemetry release may do. The bus must import and trace a workflow all the same,
since it uses the public API only. Prints the names of the exported spans.
"""

from __future__ import annotations

import sys
from typing import Any

import opentelemetry.sdk.trace as sdk_trace
import opentelemetry.sdk.trace.export as sdk_export
import opentelemetry.trace as api_trace


class Link:
    """A link with slots and other field names."""

    __slots__ = ("_attrs", "_ctx")

    def __init__(self, context: Any, attributes: Any = None) -> None:
        self._ctx = context
        self._attrs = attributes

    @property
    def context(self) -> Any:
        return self._ctx

    @property
    def attributes(self) -> Any:
        return self._attrs

    @property
    def dropped_attributes(self) -> int:
        return 0


_RealSpanContext = api_trace.SpanContext


class _AnySpanContext(type):
    def __instancecheck__(cls, instance: object) -> bool:
        return type.__instancecheck__(_RealSpanContext, instance)  # the SDK checks still pass


class SpanContext(_RealSpanContext, metaclass=_AnySpanContext):
    """A span context with slots and its fields stored in the reverse order."""

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> SpanContext:
        real = _RealSpanContext(*args, **kwargs)
        return tuple.__new__(cls, tuple(reversed(tuple(real))))

    trace_id = property(lambda self: tuple.__getitem__(self, 5))
    span_id = property(lambda self: tuple.__getitem__(self, 4))
    is_remote = property(lambda self: tuple.__getitem__(self, 3))
    trace_flags = property(lambda self: tuple.__getitem__(self, 2))
    trace_state = property(lambda self: tuple.__getitem__(self, 1))
    is_valid = property(lambda self: tuple.__getitem__(self, 0))


class Collect(sdk_trace.SpanProcessor):
    """A span processor with slots, collecting span names."""

    __slots__ = ("names",)

    def __init__(self) -> None:
        self.names: list[str] = []

    def on_end(self, span: Any) -> None:
        self.names.append(span.name)


class Multi(sdk_trace.SynchronousMultiSpanProcessor):
    """The multi-processor with slots and its list under another name."""

    __slots__ = ("_mine",)


def main() -> int:
    """Replace the classes, then import the packages and trace a workflow."""
    api_trace.Link = Link  # type: ignore[misc,assignment]
    api_trace.SpanContext = SpanContext  # type: ignore[misc]
    sdk_trace.SynchronousMultiSpanProcessor = Multi  # type: ignore[misc]
    sdk_export.BatchSpanProcessor = Collect  # type: ignore[misc,assignment]
    sdk_export.SimpleSpanProcessor = Collect  # type: ignore[misc,assignment]

    from actors import Agent, Plan, Task, TaskContext, Team
    from actors.telemetry import sdk_tracer_provider
    from bus import EventBus

    class Echo(Agent):
        def handle(self, task: TaskContext) -> object:
            return task.description

    provider, telemetry = sdk_tracer_provider()
    collect = Collect()
    provider.add_span_processor(collect)
    bus = EventBus(telemetry=telemetry)
    plan = Plan(tasks=[Task(id="t1", agent="echo", description="hi")])
    with (
        provider.get_tracer("test").start_as_current_span("request"),
        Team([Echo.child_spec("echo", bus)], bus=bus) as team,
    ):
        assert team.run(plan, timeout=30).answer == "hi"
    print("\n".join(sorted(set(collect.names))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
