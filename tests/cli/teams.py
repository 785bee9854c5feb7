"""Team factories for the command-line tests (``--team tests.cli.teams:<name>``).

``CLI_TEST_HOLD`` names a task that waits (for at most 30 s, or until cancelled) before it
completes, so a test can kill the process mid-way; ``CLI_TEST_FAIL`` names a task that fails.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

from actors import Agent, Limits, LLMAgent, RetryPolicy, TaskContext, TaskError, Team
from actors.testing import FakeLLMServer, Reply
from bus import EventBus, TokenUsage


class Counter(Agent):
    """Returns its task's id and its inputs; spends 10 tokens a task."""

    def handle(self, task: TaskContext) -> str:
        if task.task_id == os.environ.get("CLI_TEST_FAIL"):
            raise TaskError(f"{task.task_id} was told to fail", retryable=False)
        if task.task_id == os.environ.get("CLI_TEST_HOLD"):
            task.cancellation.wait(30)  # until killed, cancelled or 30 s passed
            task.cancellation.raise_if_cancelled()
        time.sleep(float(os.environ.get("CLI_TEST_PAUSE", "0")))
        task.add_usage(TokenUsage(input_tokens=6, output_tokens=4))
        inputs = ",".join(str(task.inputs[k]) for k in sorted(task.inputs))
        return f"{task.task_id}({inputs})" if inputs else task.task_id


def team(bus: EventBus) -> Team:
    """Two agents, ``left`` and ``right``, with one attempt per task."""
    specs = [Counter.child_spec(name, bus) for name in ("left", "right")]
    return Team(specs, bus=bus, retry=RetryPolicy(backoff=None), limits=Limits(approval_timeout=60))


@contextlib.contextmanager
def llm_team(bus: EventBus) -> Iterator[Team]:
    """Agents ``left`` and ``right`` as LLM agents of a local server that answers "ok"."""
    with FakeLLMServer(lambda _request: Reply.text("ok")) as server:
        client = server.client()
        specs = [LLMAgent.child_spec(n, bus, client=client, model="m") for n in ("left", "right")]
        with Team(specs, bus=bus) as team:
            yield team


def own_bus(_bus: EventBus) -> Team:
    """A mistake: a team on a bus of its own."""
    mine = EventBus()
    return Team([Counter.child_spec("left", mine)], bus=mine)


not_callable = 42
