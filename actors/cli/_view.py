"""Showing progress: a table updated in place on a terminal (rich), or plain lines."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, TextIO

from ._progress import TERMINAL, Progress, Row

if TYPE_CHECKING:
    from rich.live import Live
    from rich.table import Table

__all__ = ["LiveView", "PlainView", "View", "make_view"]

_STYLES = {
    "completed": "green",
    "failed": "red",
    "cancelled": "bright_black",
    "skipped": "bright_black",
    "running": "cyan",
    "retrying": "yellow",
    "awaiting approval": "magenta",
}


class View(Protocol):
    """What the commands tell a view; every method runs in the main thread."""

    def changed(self, row: Row) -> None:
        """``row`` changed state."""
        ...

    def tick(self) -> None:
        """Time passed (running tasks' durations grow)."""
        ...

    def pause(self) -> None:
        """Let the terminal be used for a prompt."""
        ...

    def resume(self) -> None:
        """Show progress again after :meth:`pause`."""
        ...

    def stop(self) -> None:
        """The workflow ended: leave the final state on screen."""
        ...


class PlainView:
    """One line per state change, flushed at once (for pipes, logs, and no rich)."""

    def __init__(self, progress: Progress, out: TextIO | None = None) -> None:
        self.progress = progress
        self.out = out if out is not None else sys.stdout

    def changed(self, row: Row) -> None:
        print(self.progress.line(row, datetime.now(UTC)), file=self.out, flush=True)

    def tick(self) -> None:
        pass

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass

    def stop(self) -> None:
        pass


class LiveView:
    """A table, one row per task, redrawn in place (rich's ``Live``; needs ``[cli]``).

    It refreshes only when told (:meth:`changed`, :meth:`tick`): no thread of its own.
    """

    def __init__(self, progress: Progress, title: str) -> None:
        from rich.console import Console  # noqa: PLC0415 - the optional [cli] extra
        from rich.live import Live  # noqa: PLC0415

        self.progress = progress
        self.title = title
        self.live: Live = Live(
            self._table(), console=Console(), auto_refresh=False, transient=False
        )
        self.live.start()

    def _table(self) -> Table:
        from rich.table import Table  # noqa: PLC0415
        from rich.text import Text  # noqa: PLC0415 - plain text: no markup in ids or errors

        now = datetime.now(UTC)
        title = Text(f"{self.title}  ({self.progress.status})")
        table = Table(title=title, title_justify="left")
        for column in ("task", "agent", "status", "attempt", "duration", "tokens", "note"):
            right = column in ("attempt", "duration", "tokens")
            table.add_column(column, justify="right" if right else "left", no_wrap=True)
        for row in self.progress.rows.values():
            seconds = row.seconds(now)
            table.add_row(
                Text(row.task_id),
                Text(row.agent),
                Text(row.status, style=_STYLES.get(row.status, "")),
                str(row.attempt),
                "" if seconds is None else f"{seconds:.2f}s",
                str(row.tokens),
                Text(row.note[:60]),
            )
        return table

    def changed(self, row: Row) -> None:
        self.live.update(self._table(), refresh=True)

    def tick(self) -> None:
        if any(r.status not in TERMINAL and r.started for r in self.progress.rows.values()):
            self.live.update(self._table(), refresh=True)

    def pause(self) -> None:
        self.live.stop()

    def resume(self) -> None:
        self.live.start()

    def stop(self) -> None:
        self.live.update(self._table(), refresh=True)
        self.live.stop()


def make_view(progress: Progress, title: str, *, plain: bool = False) -> View:
    """A :class:`LiveView` on a terminal when rich is installed, else a :class:`PlainView`."""
    if not plain and sys.stdout.isatty():
        try:
            return LiveView(progress, title)
        except ImportError:
            pass
    return PlainView(progress)
