"""The workflow span: ``invoke_workflow {name}``, the root of a workflow's trace."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry import trace

__all__ = ["current_workflow_span", "workflow_span"]

_CURRENT: ContextVar[trace.Span | None] = ContextVar("actorchestra_workflow_span", default=None)


@contextmanager
def workflow_span(
    name: str, *, tracer_provider: trace.TracerProvider | None = None
) -> Iterator[trace.Span]:
    """Open the ``invoke_workflow {name}`` span around everything a workflow does.

    Planning and every plan submitted inside the block (``Team.run``, ``submit``) then
    share this one span as their root, so a trace shows the whole workflow: ``plan``,
    then the tasks. Without it, each submitted plan opens its own workflow span.
    Attributes follow the GenAI conventions (``gen_ai.operation.name`` is
    ``invoke_workflow``, ``gen_ai.agent.name`` the workflow's name).

    Args:
        name: The workflow's name.
        tracer_provider: Where the span goes; ``None`` uses the global provider.

    Example:
        >>> with workflow_span("due_diligence") as span:
        ...     pass  # plan = planner.plan(request); team.run(plan)
    """
    tracer = trace.get_tracer("actorchestra.orchestrator", tracer_provider=tracer_provider)
    with tracer.start_as_current_span(
        f"invoke_workflow {name}",
        attributes={"gen_ai.operation.name": "invoke_workflow", "gen_ai.agent.name": name},
    ) as span:
        token = _CURRENT.set(span)
        try:
            yield span
        finally:
            _CURRENT.reset(token)


def current_workflow_span() -> trace.Span | None:
    """The span of the innermost :func:`workflow_span` block, if it is the current span."""
    span = _CURRENT.get()
    return span if span is not None and trace.get_current_span() is span else None
