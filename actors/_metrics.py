"""The actors' metrics (OpenTelemetry metrics API), one set of instruments per provider.

Names follow the OpenTelemetry semantic conventions where one exists
(``gen_ai.client.token.usage``, GenAI conventions) and use the ``actorchestra.`` prefix
otherwise. Durations are in seconds, as the conventions ask.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from opentelemetry import metrics

from bus import Telemetry

# The GenAI conventions' advisory explicit bucket boundaries: tokens, then seconds.
TOKEN_USAGE_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
OPERATION_DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
_AGENT_BUCKETS = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6)

__all__ = ["Instruments"]

_lock = threading.Lock()
_by_provider: weakref.WeakKeyDictionary[metrics.MeterProvider, Instruments] = (
    weakref.WeakKeyDictionary()
)
_global: list[Instruments] = []


@dataclass(frozen=True, slots=True)
class Instruments:
    """The instruments actors record to, one set per meter provider.

    Attributes:
        tasks_started: ``actorchestra.tasks.started`` — task attempts dispatched,
            each replica of a replicated one apart (attribute ``gen_ai.agent.name``).
        tasks_completed: ``actorchestra.tasks.completed`` — tasks completed.
        tasks_failed: ``actorchestra.tasks.failed`` — failed attempts (``error.type`` is
            the failure's kind, one of the values of :class:`bus.FailureKind`).
        task_duration: ``actorchestra.task.duration`` — seconds from a task's first start
            to its terminal state (``actorchestra.task.status``).
        token_usage: ``gen_ai.client.token.usage`` — tokens per model call
            (``gen_ai.token.type`` is ``input`` or ``output``).
        restarts: ``actorchestra.supervisor.restarts`` — child restarts
            (``actorchestra.supervisor``, ``actorchestra.child``).
        operation_duration: ``gen_ai.client.operation.duration`` — seconds per model call
            (GenAI conventions; ``error.type`` on failure).
        agent_duration: ``gen_ai.invoke_agent.duration`` — seconds per agent invocation.
        tool_duration: ``gen_ai.execute_tool.duration`` — seconds per tool call.
        rejected_events: ``actorchestra.orchestrator.rejected_events`` — events the
            orchestrator refused (``actorchestra.rejection.reason``: ``forged outcome``
            or ``forged approval``; ``actorchestra.event.type``: the refused event's).
        queue_wait: ``actorchestra.orchestrator.queue_wait`` — seconds a ready task
            waited for an agent with room (``actorchestra.target``: the agent or
            capability it names, a pool's name for a pool).
        pool_size: ``actorchestra.pool.size`` — members of an elastic pool
            (``actorchestra.pool``), an up-down counter.

    The GenAI histograms take the conventions' advisory bucket boundaries; the agent
    and tool durations are as proposed for the conventions (semantic-conventions-genai
    pull request 322), not yet merged there.
    """

    tasks_started: metrics.Counter
    tasks_completed: metrics.Counter
    tasks_failed: metrics.Counter
    task_duration: metrics.Histogram
    token_usage: metrics.Histogram
    restarts: metrics.Counter
    operation_duration: metrics.Histogram
    agent_duration: metrics.Histogram
    tool_duration: metrics.Histogram
    rejected_events: metrics.Counter
    queue_wait: metrics.Histogram
    pool_size: metrics.UpDownCounter

    @staticmethod
    def of(meter_provider: metrics.MeterProvider | None) -> Instruments:
        """The instruments of ``meter_provider`` (``None``: the global one), made once."""
        with _lock:
            if meter_provider is None:
                if not _global:
                    _global.append(_create(metrics.get_meter("actorchestra.actors")))
                return _global[0]
            found = _by_provider.get(meter_provider)
            if found is None:
                meter = metrics.get_meter("actorchestra.actors", meter_provider=meter_provider)
                found = _by_provider[meter_provider] = _create(meter)
            return found

    @staticmethod
    def of_telemetry(telemetry: Telemetry) -> Instruments:
        """The instruments of ``telemetry``'s meter provider."""
        return Instruments.of(telemetry.meter_provider)


def _create(meter: metrics.Meter) -> Instruments:
    return Instruments(
        tasks_started=meter.create_counter(
            "actorchestra.tasks.started", unit="{task}", description="Task attempts dispatched."
        ),
        tasks_completed=meter.create_counter(
            "actorchestra.tasks.completed", unit="{task}", description="Tasks completed."
        ),
        tasks_failed=meter.create_counter(
            "actorchestra.tasks.failed", unit="{task}", description="Task attempts that failed."
        ),
        task_duration=meter.create_histogram(
            "actorchestra.task.duration",
            unit="s",
            description="Seconds from a task's first start to its terminal state.",
        ),
        token_usage=meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Tokens used per model call (GenAI semantic conventions).",
            explicit_bucket_boundaries_advisory=list(TOKEN_USAGE_BUCKETS),
        ),
        operation_duration=meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(OPERATION_DURATION_BUCKETS),
        ),
        agent_duration=meter.create_histogram(
            "gen_ai.invoke_agent.duration",
            unit="s",
            description="Duration of an agent invocation.",
            explicit_bucket_boundaries_advisory=list(_AGENT_BUCKETS),
        ),
        tool_duration=meter.create_histogram(
            "gen_ai.execute_tool.duration",
            unit="s",
            description="Duration of a tool execution.",
            explicit_bucket_boundaries_advisory=list(OPERATION_DURATION_BUCKETS),
        ),
        queue_wait=meter.create_histogram(
            "actorchestra.orchestrator.queue_wait",
            unit="s",
            description="Seconds a ready task waited for an agent with room.",
            explicit_bucket_boundaries_advisory=list(OPERATION_DURATION_BUCKETS),
        ),
        pool_size=meter.create_up_down_counter(
            "actorchestra.pool.size", unit="{agent}", description="Members of an elastic pool."
        ),
        restarts=meter.create_counter(
            "actorchestra.supervisor.restarts",
            unit="{restart}",
            description="Children restarted by supervisors.",
        ),
        rejected_events=meter.create_counter(
            "actorchestra.orchestrator.rejected_events",
            unit="{event}",
            description="Events the orchestrator refused: forged outcomes and approvals.",
        ),
    )
