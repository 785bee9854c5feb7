"""What a command's team runs on: a bus, the SQLite event log, and telemetry if asked for."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bus import EventBus
from memory import SQLiteEventLog, StoreFileError

from ._errors import CommandError

if TYPE_CHECKING:
    from actors.telemetry import TelemetrySetup

__all__ = ["Session", "open_log", "session"]


@dataclass(frozen=True, slots=True)
class Session:
    """A command's bus, its event log (``None`` without a database) and telemetry."""

    bus: EventBus
    log: SQLiteEventLog | None
    telemetry: TelemetrySetup | None

    def span_tree(self) -> str:
        """The finished spans kept in memory, as a tree (``""`` when none were kept)."""
        if self.telemetry is None or self.telemetry.memory is None:
            return ""
        from actors.telemetry import format_span_tree  # noqa: PLC0415 - the [otlp] extra

        self.telemetry.tracer_provider.force_flush(5_000)
        return format_span_tree(self.telemetry.memory.get_finished_spans())


def open_log(db: str, *, must_exist: bool) -> SQLiteEventLog:
    """The SQLite event log in file ``db``.

    Raises:
        CommandError: ``must_exist`` and there is no such file, or it is not a memory
            file.
    """
    if must_exist and not Path(db).is_file():
        msg = f"{db}: no such file"
        raise CommandError(msg)
    try:
        return SQLiteEventLog(db)
    except StoreFileError as exc:
        raise CommandError(str(exc)) from None


@contextlib.contextmanager
def session(db: str | None, *, spans: bool, must_exist: bool) -> Iterator[Session]:
    """A bus logging to ``db`` (if given), with SDK telemetry when asked for.

    Telemetry is set up when ``spans`` is true (spans kept for :meth:`Session.span_tree`)
    or ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (exported over OTLP); the bus, the log and
    the exporters are closed on exit.

    Raises:
        CommandError: As :func:`open_log`, or telemetry is wanted without the ``[otlp]``
            extra installed.
    """
    setup = None
    if spans or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        try:
            from actors.telemetry import setup_telemetry  # noqa: PLC0415 - the [otlp] extra
        except ImportError as exc:
            raise CommandError(str(exc)) from None
        setup = setup_telemetry("actorchestra", keep_in_memory=spans)
    log = None if db is None else open_log(db, must_exist=must_exist)
    bus = EventBus(event_log=log, telemetry=None if setup is None else setup.telemetry)
    try:
        yield Session(bus, log, setup)
    finally:
        bus.stop()
        if log is not None:
            log.close()
        if setup is not None:
            setup.shutdown()
