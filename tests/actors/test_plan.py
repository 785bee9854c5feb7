from __future__ import annotations

import pytest

from actors import Plan, PlanValidationError, Task


def plan(*tasks: tuple[str, str, tuple[str, ...]]) -> Plan:
    return Plan(tasks=tuple(Task(id=i, agent=a, depends_on=d) for i, a, d in tasks))


@pytest.mark.parametrize(
    ("p", "task_id", "message"),
    [
        (
            plan(("t1", "financial", ()), ("t2", "astrologer", ("t1",))),
            "t2",
            r"^Task 't2' names unknown agent 'astrologer'; declared agents are \['financial', 'legal'\]\.$",
        ),
        (
            plan(("t1", "legal", ("t3",)), ("t2", "legal", ("t1",)), ("t3", "legal", ("t2",))),
            "t1",
            r"^Task 't1' is on a dependency cycle \(t1 -> t3 -> t2 -> t1, each depending on the next\); a plan must be acyclic\.$",
        ),
        (
            plan(("t1", "legal", ("t1",))),
            "t1",
            r"^Task 't1' depends on itself; remove it from its depends_on\.$",
        ),
        (
            plan(("t1", "legal", ("t9",))),
            "t1",
            r"^Task 't1' depends on unknown task 't9'\.$",
        ),
        (
            plan(("t1", "legal", ()), ("t1", "legal", ())),
            "t1",
            r"^Task 't1' appears twice in the plan; give each task a unique id\.$",
        ),
    ],
)
def test_invalid_plans_are_rejected_naming_the_task(p: Plan, task_id: str, message: str) -> None:
    with pytest.raises(PlanValidationError, match=message) as info:
        p.check({"financial", "legal"})
    assert info.value.task_id == task_id


def test_topological_order_respects_dependencies_and_plan_order() -> None:
    p = plan(("c", "x", ("a", "b")), ("a", "x", ()), ("b", "x", ("a",)), ("d", "x", ()))
    p.check({"x"})
    assert [t.id for t in p.topological_order()] == ["a", "d", "b", "c"]
    assert p.dependents() == {"c": [], "a": ["c", "b"], "b": ["c"], "d": []}
