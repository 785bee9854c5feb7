"""Plans: a DAG of tasks over declared agents."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from actors._errors import PlanValidationError

from .condition import Condition
from .mermaid import plan_to_mermaid
from .redundancy import Redundancy

if TYPE_CHECKING:
    from .result import WorkflowResult

__all__ = ["Plan", "Task"]


class Task(BaseModel):
    """One node of a plan.

    Attributes:
        id: Unique within the plan, e.g. ``"t1"``.
        description: What to do, in words; the agent receives it.
        agent: Name of the declared agent that runs it.
        depends_on: Ids of the tasks whose results it needs; it starts after all of
            them ended: the required ones completed, the ``optional`` ones in any way.
            A required dependency that fails (or is cancelled) cancels the task; one
            that is skipped skips it.
        optional: Those of ``depends_on`` it can do without: it runs with the results
            that exist, and learns which are missing and why
            (:attr:`TaskContext.missing <actors.TaskContext.missing>`).
        when: A test on one input: the task runs only if it holds, else it ends as
            ``skipped`` without an attempt (see :class:`Condition`).
        priority: Among ready tasks, higher starts first.
        max_attempts: Attempts before the task fails for good (≥ 1).
        timeout: Seconds an attempt may run before it fails as timed out (and is retried
            if attempts remain), finite; ``None`` uses the team's ``Limits.task_timeout``.
        needs_approval: When ready, the task waits for an approval (``ApprovalDecided``)
            before it starts; a rejection, or no decision within the team's
            ``Limits.approval_timeout``, fails it.
        routing: How its attempts choose an agent: ``"direct"`` (least loaded),
            ``"contract_net"`` (the candidates bid, see :class:`ContractNet`), ``None``
            as the team says (its ``contract_net=``). A replicated task is not put
            out to bid.
        redundancy: Run each attempt on several agents at once; the first result or
            a vote decides it (see :class:`Redundancy`). ``None``: one agent.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    id: str = Field(min_length=1, max_length=200)
    description: str = ""
    agent: str = Field(min_length=1)
    depends_on: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    when: Condition | None = None
    priority: int = 0
    max_attempts: int = Field(default=3, ge=1, le=100)
    timeout: float | None = Field(default=None, gt=0)
    needs_approval: bool = False
    routing: Literal["direct", "contract_net"] | None = None
    redundancy: Redundancy | None = None


class Plan(BaseModel):
    """A workflow as a DAG of tasks; :meth:`check` validates it against the agents.

    Attributes:
        tasks: The tasks, in plan order (ties among ready tasks keep it).
        error_budget: How many tasks may fail with the workflow still completed (its
            status is ``completed`` when every other task completed or was skipped); one
            failure more stops it: its unfinished tasks are cancelled and it fails.
            ``None``: no budget; a failure cancels only the tasks that require it,
            other branches run on, and the workflow fails.

    Example:
        >>> plan = Plan(tasks=[Task(id="a", agent="x"), Task(id="b", agent="x", depends_on=("a",))])
        >>> plan.check({"x"})
        >>> [t.id for t in plan.topological_order()]
        ['a', 'b']
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tasks: tuple[Task, ...] = Field(min_length=1)
    error_budget: int | None = Field(default=None, ge=0)
    _checked_for: frozenset[str] | None = PrivateAttr(default=None)

    def check(self, agents: Collection[str]) -> None:
        """Validate the plan: unique ids, known dependencies and agents, no cycle.

        Args:
            agents: Names of the declared agents.

        Raises:
            PlanValidationError: The first problem found; its message and ``task_id``
                name the offending task.
        """
        known = frozenset(agents)
        if self._checked_for == known:
            return  # the plan is immutable: a check against the same agents holds
        seen: set[str] = set()
        for task in self.tasks:
            if task.id in seen:
                msg = f"Task {task.id!r} appears twice in the plan; give each task a unique id."
                raise PlanValidationError(msg, task_id=task.id, rule="task ids must be unique")
            seen.add(task.id)
        for task in self.tasks:
            if task.agent not in agents:
                msg = (
                    f"Task {task.id!r} names unknown agent {task.agent!r}; "
                    f"declared agents are {sorted(agents)}."
                )
                rule = "every task names a declared agent"
                raise PlanValidationError(msg, task_id=task.id, rule=rule)
            for dep in task.depends_on:
                if dep not in seen:
                    msg = f"Task {task.id!r} depends on unknown task {dep!r}."
                    rule = "dependencies name earlier tasks of the plan"
                    raise PlanValidationError(msg, task_id=task.id, rule=rule)
                if dep == task.id:
                    msg = f"Task {task.id!r} depends on itself; remove it from its depends_on."
                    rule = "no task depends on itself"
                    raise PlanValidationError(msg, task_id=task.id, rule=rule)
            _check_branches(task)
        cycle = self._find_cycle()
        if cycle:
            path = " -> ".join([*cycle, cycle[0]])
            msg = (
                f"Task {cycle[0]!r} is on a dependency cycle ({path}, each "
                "depending on the next); "
                "a plan must be acyclic."
            )
            raise PlanValidationError(msg, task_id=cycle[0], rule="a plan must be acyclic")
        self._checked_for = known

    def topological_order(self) -> Iterator[Task]:
        """Tasks in an order where each comes after its dependencies (Kahn's algorithm).

        Ties keep plan order. Assumes :meth:`check` passed.
        """
        by_id = {t.id: t for t in self.tasks}
        waiting = {t.id: len(set(t.depends_on)) for t in self.tasks}
        dependents = self.dependents()
        ready = [t.id for t in self.tasks if waiting[t.id] == 0]
        i = 0
        while i < len(ready):
            tid = ready[i]
            i += 1
            yield by_id[tid]
            for d in dependents[tid]:
                waiting[d] -= 1
                if waiting[d] == 0:
                    ready.append(d)

    def dependents(self) -> dict[str, list[str]]:
        """For each task id, the ids of the tasks that depend on it (no duplicates)."""
        out: dict[str, list[str]] = {t.id: [] for t in self.tasks}
        for t in self.tasks:
            for dep in dict.fromkeys(t.depends_on):
                if dep in out:
                    out[dep].append(t.id)
        return out

    def to_mermaid(self, result: WorkflowResult | None = None) -> str:
        """The plan as a Mermaid ``flowchart``, e.g. for a Markdown ``mermaid`` code block.

        One node per task (its id and agent), an edge from each dependency to its
        dependent: dashed for an optional one, labelled with the condition that tests
        it; a gated task is a hexagon.

        Args:
            result: The finished workflow of this plan: each node then shows its task's
                status, coloured (completed, failed, cancelled, skipped).

        Returns:
            The flowchart, one statement a line, no trailing newline.

        Example:
            >>> plan = Plan(tasks=[
            ...     Task(id="a", agent="x"),
            ...     Task(id="b", agent="y", depends_on=("a",), optional=("a",)),
            ... ])
            >>> print(plan.to_mermaid())
            flowchart TD
                n0["a<br/><small>x</small>"]
                n1["b<br/><small>y</small>"]
                n0 -.-> n1
        """
        return plan_to_mermaid(self, result)

    def _find_cycle(self) -> list[str]:
        deps = {t.id: t.depends_on for t in self.tasks}
        white, grey, black = 0, 1, 2
        color = dict.fromkeys(deps, white)
        for root in deps:
            if color[root] != white:
                continue
            stack: list[tuple[str, int]] = [(root, 0)]
            path: list[str] = []
            while stack:
                node, i = stack.pop()
                if i == 0:
                    color[node] = grey
                    path.append(node)
                children = deps[node]
                if i < len(children):
                    stack.append((node, i + 1))
                    child = children[i]
                    if color[child] == grey:
                        return path[path.index(child) :]
                    if color[child] == white:
                        stack.append((child, 0))
                else:
                    color[node] = black
                    path.pop()
        return []


def _check_branches(task: Task) -> None:
    """Optional dependencies and the condition's input name dependencies of ``task``."""
    for dep in task.optional:
        if dep not in task.depends_on:
            msg = f"Task {task.id!r} marks {dep!r} optional, which is not in its depends_on."
            rule = "optional dependencies are dependencies"
            raise PlanValidationError(msg, task_id=task.id, rule=rule)
    if task.when is not None and task.when.input not in task.depends_on:
        msg = (
            f"Task {task.id!r} has a condition on {task.when.input!r}, which is not in its "
            "depends_on; a condition tests the result of a dependency."
        )
        rule = "a condition tests a dependency's result"
        raise PlanValidationError(msg, task_id=task.id, rule=rule)
