"""Small actors and waits shared by tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from actors import Actor
from bus import Event, EventBus


class Collector(Actor):
    """Records every event it receives; raises on events whose task_id is ``"crash"``."""

    def __init__(
        self,
        *,
        name: str,
        bus: EventBus,
        sink: list[Event],
        done: threading.Event | None = None,
        until: int = 0,
    ) -> None:
        super().__init__(name=name, bus=bus)
        self.sink = sink
        self.done = done
        self.until = until

    def on_event(self, event: Event) -> None:
        if event.task_id == "crash":
            raise RuntimeError("crash requested")
        self.sink.append(event)
        if self.done is not None and len(self.sink) >= self.until:
            self.done.set()


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` (every 1 ms) until true or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True
