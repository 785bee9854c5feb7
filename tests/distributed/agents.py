"""Agents that worker processes of the tests host (``python -m actors.worker --agents``).

``ledger_agents`` makes the agent ``work``, whose every task runs one side effect: a
payment to a ledger (a directory) that, like a payment provider, applies a payment at
most once per idempotency key, and logs every call it gets. The worker's idempotency
store is ``LEDGER/effects.db`` (shared by the workers of one host).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from actors import Agent, ChildSpec, TaskContext, idempotency_key
from bus import EventBus
from memory import SQLiteIdempotencyStore


def pay(ledger: Path, key: str) -> str:
    """Log the call, then apply the payment unless ``key`` was applied (atomic create)."""
    with (ledger / "calls.log").open("a") as calls:
        calls.write(f"{key} {os.getpid()}\n")
    try:
        (ledger / f"applied-{key}").touch(exist_ok=False)
    except FileExistsError:
        return '"duplicate refused"'
    return '"applied"'


class Payer(Agent):
    """Works ``delay`` seconds, pays once for the task, works ``delay`` seconds more."""

    def __init__(self, *, ledger: Path, delay: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ledger, self.delay = ledger, delay

    def handle(self, task: TaskContext) -> object:
        time.sleep(self.delay)
        key = idempotency_key(task.workflow_id, task.task_id, "pay", "{}")
        outcome = self.idempotency.run_once(
            key, lambda: pay(self.ledger, key), workflow_id=task.workflow_id
        )
        time.sleep(self.delay)
        return {"task": task.task_id, "payment": outcome, "pid": os.getpid()}


def ledger_agents(bus: EventBus) -> list[ChildSpec]:
    """The ``work`` agent, with ``LEDGER`` (a directory) and ``DELAY`` (seconds) from the env."""
    ledger = Path(os.environ["LEDGER"])
    store = SQLiteIdempotencyStore(ledger / "effects.db")
    delay = float(os.environ.get("DELAY", "0.05"))
    return [Payer.child_spec("work", bus, ledger=ledger, delay=delay, idempotency=store)]
