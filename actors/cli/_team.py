"""Loading the user's team factory (``package.module:factory``) and the plan file."""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from pydantic import ValidationError

from actors._orchestration.plan import Plan
from actors._orchestration.team import Team
from bus import EventBus

from ._errors import CommandError

__all__ = ["TeamFactory", "load_plan", "load_team_factory", "open_team"]

TeamFactory = Callable[[EventBus], Team | AbstractContextManager[Team]]
"""What ``--team package.module:factory`` names: called with the command's bus (which
carries the event log and telemetry), it returns the :class:`Team` built on that bus, or
a context manager whose ``with`` gives that team and whose exit stops it and whatever
else the factory started (a ``@contextlib.contextmanager`` generator, e.g. one that
starts a local LLM server too)."""


def load_team_factory(spec: str) -> TeamFactory:
    """The callable ``spec`` (``package.module:attribute``) names.

    Raises:
        CommandError: ``spec`` is malformed, does not import, or names nothing callable.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        msg = f"--team {spec!r}: expected package.module:factory"
        raise CommandError(msg)
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except ImportError as exc:
        msg = f"--team {spec!r}: cannot import {module_name!r} ({exc})"
        raise CommandError(msg) from None
    except AttributeError:
        msg = f"--team {spec!r}: module {module_name!r} has no attribute {attribute!r}"
        raise CommandError(msg) from None
    if not callable(factory):
        msg = f"--team {spec!r} is not callable"
        raise CommandError(msg)
    return factory  # type: ignore[no-any-return]


@contextlib.contextmanager
def open_team(factory: TeamFactory, bus: EventBus, spec: str) -> Iterator[Team]:
    """The factory's team, stopped on exit (see :data:`TeamFactory`).

    Raises:
        CommandError: The factory returned neither a team nor a context manager of one,
            or built its team on a bus of its own.
    """
    made: object = factory(bus)
    if not isinstance(made, AbstractContextManager):  # a Team is one: ``with`` stops it
        msg = f"--team {spec!r} returned {type(made).__name__}, not a Team or a context manager"
        raise CommandError(msg)
    with made as team:
        if not isinstance(team, Team):
            msg = f"--team {spec!r}: its context manager gave {type(team).__name__}, not a Team"
            raise CommandError(msg)
        if team.bus is not bus:
            msg = f"--team {spec!r}: build the team on the bus the factory is given"
            raise CommandError(msg)
        yield team


def load_plan(path: str) -> Plan:
    """The plan in JSON file ``path`` (a :class:`Plan`'s JSON form).

    Raises:
        CommandError: The file is missing or unreadable, or does not hold a plan.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        msg = f"{path}: no such file"
        raise CommandError(msg) from None
    except OSError as exc:
        msg = f"{path}: cannot read it ({exc.strerror})"
        raise CommandError(msg) from None
    try:
        return Plan.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        msg = f"{path}: not JSON (line {exc.lineno}: {exc.msg})"
        raise CommandError(msg) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the plan"
        msg = f"{path}: not a plan ({where}: {first['msg']})"
        raise CommandError(msg) from None
