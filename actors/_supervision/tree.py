"""The supervision tree as data: each child's state, asked for supervisor by supervisor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pykka

from .child_spec import RestartPolicy
from .messages import WhichChildren

__all__ = ["ChildInfo", "format_tree", "which_children"]


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """One child as its supervisor sees it (OTP ``which_children``).

    Attributes:
        id: The child id.
        alive: Whether it is running.
        restart_count: Restarts of this child since its supervisor started.
        restart: Its restart type.
        children: Its own children, when it is a supervisor.
    """

    id: str
    alive: bool
    restart_count: int
    restart: RestartPolicy
    children: tuple[ChildInfo, ...] = ()


def which_children(
    ref: pykka.ActorRef[Any],
    timeout: float,
    is_supervisor: Callable[[pykka.ActorRef[Any]], bool],
) -> tuple[ChildInfo, ...]:
    """The children of the supervisor at ``ref``, recursively (OTP ``which_children``).

    Asks from the calling thread, one supervisor at a time, so no actor blocks. A child
    supervisor that stops meanwhile is shown with no children.

    Args:
        ref: A supervisor's ref.
        timeout: Seconds to wait for each supervisor's answer.
        is_supervisor: Whether a child's ref is a supervisor's (to ask it in turn).

    Raises:
        pykka.ActorDeadError: The supervisor at ``ref`` stopped.
        pykka.Timeout: A supervisor did not answer in time.
    """
    infos: tuple[tuple[ChildInfo, pykka.ActorRef[Any] | None], ...] = ref.ask(
        WhichChildren(), block=True, timeout=timeout
    )
    result: list[ChildInfo] = []
    for info, child_ref in infos:
        if child_ref is not None and is_supervisor(child_ref):
            try:
                sub = which_children(child_ref, timeout, is_supervisor)
            except pykka.ActorDeadError:
                sub = ()
            result.append(ChildInfo(info.id, info.alive, info.restart_count, info.restart, sub))
        else:
            result.append(info)
    return tuple(result)


def format_tree(infos: Sequence[ChildInfo], indent: str = "") -> str:
    """Render :func:`which_children`'s result as indented text, one child per line."""
    lines: list[str] = []
    for info in infos:
        state = "alive" if info.alive else "stopped"
        lines.append(
            f"{indent}{info.id} [{state}, {info.restart.value}, restarts={info.restart_count}]"
        )
        if info.children:
            lines.append(format_tree(info.children, indent + "  "))
    return "\n".join(lines)
