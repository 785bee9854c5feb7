"""A plan as a Mermaid flowchart, and a finished workflow with its tasks coloured by status."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .plan import Plan
    from .result import WorkflowResult

__all__ = ["STATUS_STYLES", "plan_to_mermaid"]

STATUS_STYLES: dict[str, str] = {
    "completed": "fill:#d3f9d8,stroke:#2b8a3e,color:#000",
    "failed": "fill:#ffe3e3,stroke:#c92a2a,color:#000",
    "cancelled": "fill:#e9ecef,stroke:#495057,color:#000",
    "skipped": "fill:#fff,stroke:#adb5bd,stroke-dasharray:4 3,color:#868e96",
}
"""Mermaid ``classDef`` styles by terminal task status (pending and running: unstyled)."""


def _text(value: str) -> str:
    """``value`` safe inside a quoted Mermaid label (quotes and markup as entity codes)."""
    for raw, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        value = value.replace(raw, code)
    return value


def plan_to_mermaid(plan: Plan, result: WorkflowResult | None = None) -> str:
    """Render ``plan`` as a top-down Mermaid ``flowchart``; see :meth:`Plan.to_mermaid`.

    Nodes are ``n0``, ``n1``, ... in plan order (task ids may hold any character), each
    labelled with the task id and its agent, and with ``result`` its status too. An
    edge runs from a dependency to its dependent: dashed when the dependency is
    optional, labelled with the dependent's condition when it tests that dependency.
    Gated tasks (``needs_approval``) are drawn as hexagons.
    """
    node = {task.id: f"n{i}" for i, task in enumerate(plan.tasks)}
    statuses = {} if result is None else {t.task_id: t.status.value for t in result.tasks}
    lines = ["flowchart TD"]
    for task in plan.tasks:
        label = f"{_text(task.id)}<br/><small>{_text(task.agent)}</small>"
        if task.id in statuses:
            label += f"<br/><i>{statuses[task.id]}</i>"
        left, right = ("{{", "}}") if task.needs_approval else ("[", "]")
        lines.append(f'    {node[task.id]}{left}"{label}"{right}')
    for task in plan.tasks:
        for dep in dict.fromkeys(task.depends_on):
            if dep not in node:
                continue  # an unchecked plan: draw what is there
            arrow = "-.->" if dep in task.optional else "-->"
            if task.when is not None and task.when.input == dep:
                arrow += f'|"{_text(str(task.when))}"|'
            lines.append(f"    {node[dep]} {arrow} {node[task.id]}")
    used = [s for s in STATUS_STYLES if s in statuses.values()]
    for status in used:
        lines.append(f"    classDef {status} {STATUS_STYLES[status]}")
    for status in used:
        members = ",".join(node[t] for t, s in statuses.items() if s == status and t in node)
        lines.append(f"    class {members} {status}")
    return "\n".join(lines)
