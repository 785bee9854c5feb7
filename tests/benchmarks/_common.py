"""Shared helpers for the benchmarks: timing, medians, the machine note."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import Sampler


class DiscardExporter(SpanExporter):
    """Exports nowhere: measures span creation and processing, not the wire."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def sdk_provider(sampler: Sampler | None = None) -> TracerProvider:
    """An SDK provider with a BatchSpanProcessor, as an application would run it."""
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(BatchSpanProcessor(DiscardExporter()))
    return provider


def median_of(runs: int, measure: Callable[[], float]) -> float:
    """The median of ``runs`` calls of ``measure``."""
    return statistics.median(measure() for _ in range(runs))


def machine_note() -> str:
    """CPU count, affinity (pinned or not) and Python version."""
    cpus = sorted(os.sched_getaffinity(0))
    pinned = (
        "pinned to CPU " + ",".join(map(str, cpus))
        if len(cpus) < (os.cpu_count() or 1)
        else "not pinned"
    )
    return f"{os.cpu_count()} CPUs, {pinned}, Python {platform.python_version()}"
