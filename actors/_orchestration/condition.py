"""Conditions: a task runs only when a test on one of its inputs holds, else it is skipped."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

__all__ = ["Condition"]

Operator = Literal["truthy", "falsy", "eq", "ne", "in", "not_in", "gt", "ge", "lt", "le"]

_MISSING = object()
_ORDER: dict[str, Callable[[Any, Any], Any]] = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


class Condition(BaseModel):
    """A test on one input of a task: the task runs if it holds, and is skipped if not.

    Declarative, so a plan that carries one stays JSON (a planner can write it, the
    event log records it, a resumed workflow evaluates it again). The value tested is
    the result of dependency ``input`` at ``path``: keys of objects and indexes of
    arrays, joined by dots (``"risk.level"``, ``"items.0"``; ``""``: the whole result).

    A value that is not there (the dependency did not complete, or the path leads
    nowhere) makes every test false but ``falsy``; so does comparing values of types
    that do not order (``"a" > 1``).

    Attributes:
        input: Id of the dependency whose result is tested (one of the task's
            ``depends_on``).
        path: Where in that result, dot-separated (``""``: the whole result).
        op: ``truthy`` / ``falsy`` (Python's truth of the JSON value), ``eq`` / ``ne``,
            ``in`` / ``not_in`` (the value is / is not an element of ``value``, a list),
            ``gt`` / ``ge`` / ``lt`` / ``le`` (the value compared with ``value``).
        value: What ``op`` compares with (unused by ``truthy`` and ``falsy``).

    Example:
        >>> high = Condition(input="risk", path="level", op="eq", value="high")
        >>> high.holds({"risk": {"level": "high"}}), high.holds({"risk": {"level": "low"}})
        (True, False)
        >>> high.holds({}), Condition(input="risk", op="falsy").holds({})
        (False, True)
        >>> str(high)
        "risk.level eq 'high'"
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: str = Field(min_length=1)
    path: str = ""
    op: Operator = "truthy"
    value: JsonValue = None

    def __str__(self) -> str:
        where = f"{self.input}.{self.path}" if self.path else self.input
        if self.op in ("truthy", "falsy"):
            return f"{where} is {self.op}"
        return f"{where} {self.op} {self.value!r}"

    def holds(self, inputs: Mapping[str, JsonValue]) -> bool:
        """Whether the test holds on ``inputs`` (dependency id → its result)."""
        found = _lookup(inputs.get(self.input, _MISSING), self.path)
        if self.op == "falsy":
            return found is _MISSING or not found
        if found is _MISSING:
            return False
        if self.op == "truthy":
            return bool(found)
        if self.op == "eq":
            return bool(found == self.value)
        if self.op == "ne":
            return bool(found != self.value)
        if self.op in ("in", "not_in"):
            inside = isinstance(self.value, list) and found in self.value
            return inside if self.op == "in" else not inside
        try:
            return bool(_ORDER[self.op](found, self.value))
        except TypeError:
            return False


def _lookup(value: object, path: str) -> object:
    """The part of ``value`` at the dotted ``path``, or ``_MISSING``."""
    if not path or value is _MISSING:
        return value
    for key in path.split("."):
        if isinstance(value, dict):
            value = value.get(key, _MISSING)
        elif (
            isinstance(value, list)
            and key.lstrip("-").isdigit()
            and -len(value) <= int(key) < len(value)
        ):
            value = value[int(key)]
        else:
            return _MISSING
        if value is _MISSING:
            return value
    return value
