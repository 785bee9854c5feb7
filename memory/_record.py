"""A remembered fact: a JSON value under a namespace and a key."""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass

from pydantic import JsonValue

__all__ = ["Record", "Scope", "tokens", "workflow_namespace"]

_TOKEN = re.compile(r"[0-9A-Za-z]+")


class Scope(enum.Enum):
    """How long a record lives.

    * ``SHORT_TERM`` — one workflow's working memory; dropped with :meth:`discard` at its
      end unless promoted to ``LONG_TERM``.
    * ``LONG_TERM`` — facts an agent (or a namespace) keeps across workflows.
    """

    SHORT_TERM = "short_term"
    LONG_TERM = "long_term"


@dataclass(frozen=True, slots=True)
class Record:
    """One stored value.

    Attributes:
        namespace: Whose it is, e.g. an agent's name or ``"workflow:<id>"``.
        key: Its name within the namespace.
        value: Any JSON value.
        scope: How long it lives.
        updated_at: When it was last written, in seconds since the epoch.
    """

    namespace: str
    key: str
    value: JsonValue
    scope: Scope
    updated_at: float

    @property
    def text(self) -> str:
        """What full-text search looks in: the key and the value as JSON."""
        return f"{self.key} {json.dumps(self.value, ensure_ascii=False)}"


def tokens(text: str) -> list[str]:
    """The search tokens of ``text``: runs of ASCII letters and digits, lower-cased.

    Both stores match a query when every one of its tokens is a token of the record.
    """
    return [t.lower() for t in _TOKEN.findall(text)]


def workflow_namespace(workflow_id: str) -> str:
    """The namespace of a workflow's short-term facts: ``workflow:<id>``.

    >>> workflow_namespace("wf-1")
    'workflow:wf-1'
    """
    return f"workflow:{workflow_id}"
