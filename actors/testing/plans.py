"""Hypothesis strategies for users' protocol tests: valid random plans (DAGs)."""

from __future__ import annotations

from collections.abc import Sequence

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - the [testing] extra is not installed
    msg = "actors.testing.plans needs Hypothesis: pip install 'actorchestra[testing]'"
    raise ImportError(msg) from exc

from actors._orchestration.condition import Condition
from actors._orchestration.plan import Plan, Task

__all__ = ["plans"]


@st.composite
def plans(
    draw: st.DrawFn,
    agents: Sequence[str],
    *,
    min_tasks: int = 1,
    max_tasks: int = 50,
    max_dependencies: int = 3,
    max_attempts: int = 3,
    branches: bool = False,
) -> Plan:
    """Random valid plans over ``agents``: a DAG, each task depending on earlier ones.

    Args:
        draw: Supplied by Hypothesis.
        agents: Names the tasks may be given to.
        min_tasks: Fewest tasks.
        max_tasks: Most tasks.
        max_dependencies: Most dependencies per task.
        max_attempts: Largest ``max_attempts`` a task gets (each draws 1..this).
        branches: Also draw optional dependencies, conditions (``truthy``/``falsy``
            on a dependency's whole result, or ``eq``/``ne`` on its ``"task"`` key
            against a task id) and an error budget.

    Example:
        >>> from hypothesis import given
        >>> @given(plans(["a", "b"], max_tasks=5))
        ... def test_plan(plan: Plan) -> None:
        ...     plan.check({"a", "b"})
    """
    n = draw(st.integers(min_tasks, max_tasks))
    tasks = []
    for i in range(n):
        earlier = [f"t{j}" for j in range(i)]
        deps = (
            draw(st.lists(st.sampled_from(earlier), max_size=max_dependencies, unique=True))
            if earlier
            else []
        )
        task = Task(
            id=f"t{i}",
            agent=draw(st.sampled_from(list(agents))),
            description=f"task {i}",
            depends_on=tuple(deps),
            priority=draw(st.integers(0, 3)),
            max_attempts=draw(st.integers(1, max_attempts)),
        )
        if branches and deps:
            optional = draw(st.lists(st.sampled_from(deps), unique=True))
            when = draw(st.none() | _conditions(deps, earlier))
            task = task.model_copy(update={"optional": tuple(optional), "when": when})
        tasks.append(task)
    budget = draw(st.none() | st.integers(0, 3)) if branches else None
    return Plan(tasks=tuple(tasks), error_budget=budget)


def _conditions(deps: Sequence[str], ids: Sequence[str]) -> st.SearchStrategy[Condition]:
    on = st.sampled_from(list(deps))
    whole = st.builds(Condition, input=on, op=st.sampled_from(["truthy", "falsy"]))
    key = st.builds(
        Condition,
        input=on,
        path=st.just("task"),
        op=st.sampled_from(["eq", "ne"]),
        value=st.sampled_from(list(ids)),
    )
    return whole | key
