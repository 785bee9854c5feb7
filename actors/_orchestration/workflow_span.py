"""The workflow span: ``invoke_workflow {name}``, the root of a workflow's trace."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry import context as otel_context
from opentelemetry import trace

from bus import Telemetry

__all__ = ["current_workflow_span", "start_workflow_span", "workflow_span"]

SCOPE = "actorchestra.orchestrator"
"""The instrumentation scope of workflow spans."""

_CURRENT: ContextVar[trace.Span | None] = ContextVar("actorchestra_workflow_span", default=None)


@contextmanager
def workflow_span(name: str, *, telemetry: Telemetry | None = None) -> Iterator[trace.Span]:
    """Open the ``invoke_workflow {name}`` span around everything a workflow does.

    Planning and every plan submitted inside the block (``Team.run``, ``submit``) then
    share this one span as their root, so a trace shows the whole workflow: ``plan``,
    then the tasks. Without it, each submitted plan opens its own workflow span.
    Attributes follow the GenAI conventions (``gen_ai.operation.name`` is
    ``invoke_workflow``, ``gen_ai.agent.name`` the workflow's name).

    Args:
        name: The workflow's name.
        telemetry: Where the span goes; ``None`` uses the global tracer provider.

    Example:
        >>> with workflow_span("due_diligence") as span:
        ...     pass  # plan = planner.plan(request); team.run(plan)
    """
    tracer = (telemetry or Telemetry()).tracer(SCOPE)
    span = start_workflow_span(tracer, name)
    with trace.use_span(span, end_on_exit=True, record_exception=True):
        token = _CURRENT.set(span)
        try:
            yield span
        finally:
            _CURRENT.reset(token)


def start_workflow_span(
    tracer: trace.Tracer,
    name: str,
    parent: otel_context.Context | None = None,
    links: list[trace.Link] | None = None,
) -> trace.Span:
    """Start (not end) the ``invoke_workflow {name}`` span, a child of ``parent``.

    Its attributes follow the GenAI conventions: ``gen_ai.operation.name`` is
    ``invoke_workflow`` and ``gen_ai.agent.name`` the workflow's name.
    """
    return tracer.start_span(
        f"invoke_workflow {name}",
        context=parent,
        attributes={"gen_ai.operation.name": "invoke_workflow", "gen_ai.agent.name": name},
        links=links,
    )


def current_workflow_span() -> trace.Span | None:
    """The span of the innermost :func:`workflow_span` block, if it is the current span."""
    span = _CURRENT.get()
    return span if span is not None and trace.get_current_span() is span else None
