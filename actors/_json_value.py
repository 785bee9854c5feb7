"""Results as JSON values: what an agent or a tool returns, checked before it travels."""

from __future__ import annotations

import json
import math

import pydantic
import pydantic_core
from pydantic import BaseModel, ConfigDict, JsonValue

from bus._errors import describe_validation_error

from ._errors import NotJSONError

__all__ = ["canonical_json", "check_finite", "describe_validation_error", "to_json_value"]

_JSON: pydantic.TypeAdapter[JsonValue] = pydantic.TypeAdapter(
    JsonValue, config=ConfigDict(allow_inf_nan=False)
)
_SCALARS = frozenset((str, int, bool, type(None)))


def to_json_value(value: object) -> JsonValue:
    """``value`` (a JSON value or a pydantic model) as a JSON value, unchanged.

    Raises:
        NotJSONError: It is not one (e.g. a set, an object, a NaN or an infinity);
            the message names where and what, never the value.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value  # type: ignore[return-value]  # a JSON scalar: skip validation
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            msg = "value: a non-finite number (JSON has no NaN or infinity)"
            raise NotJSONError(msg)
        return value  # type: ignore[return-value]
    if isinstance(value, BaseModel):
        check_finite(value)
        try:
            dumped: JsonValue = value.model_dump(mode="json")
        except pydantic_core.PydanticSerializationError as exc:
            raise NotJSONError(f"{kind.__name__}: {exc}") from None
        return dumped
    try:
        return _JSON.validate_python(value, strict=True)
    except pydantic.ValidationError as exc:
        raise NotJSONError(describe_validation_error(exc)) from None


def check_finite(value: object) -> None:
    """Refuse a value (or pydantic model) holding NaN or an infinity, which JSON cannot hold.

    Raises:
        NotJSONError: It holds one.
    """
    try:
        found = _has_non_finite(value)
    except RecursionError:
        msg = f"{type(value).__name__}: it contains itself (JSON values are trees)"
        raise NotJSONError(msg) from None
    if found:
        msg = f"{type(value).__name__}: a non-finite number (JSON has no NaN or infinity)"
        raise NotJSONError(msg)


def _has_non_finite(value: object) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, BaseModel):
        return _has_non_finite(value.model_dump())
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_has_non_finite(v) for v in value)
    return False


def canonical_json(value: JsonValue) -> str:
    """``value`` as JSON with sorted keys and no spaces: equal values, equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
