"""Shared helpers for the benchmarks: timing, medians, the machine note."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler

from actors.telemetry import sdk_tracer_provider
from bus import Telemetry


class DiscardExporter(SpanExporter):
    """Exports nowhere: measures span creation and processing, not the wire."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def sdk_provider(
    root: Sampler | None = None, *, fast: bool = True
) -> tuple[TracerProvider, Telemetry]:
    """An SDK provider sampling ``ParentBased(root)`` (``root`` None: always on) with a
    BatchSpanProcessor, as an application would run it, and the bus's ``Telemetry``.

    ``fast``: built with ``actors.telemetry.sdk_tracer_provider`` (hop spans handed to
    its processor directly); otherwise every span goes through the SDK's tracer.
    """
    root = root if root is not None else ALWAYS_ON
    if fast:
        provider, telemetry = sdk_tracer_provider(root_sampler=root)
    else:
        provider = TracerProvider(sampler=ParentBased(root))
        telemetry = Telemetry(provider)
    provider.add_span_processor(BatchSpanProcessor(DiscardExporter()))
    return provider, telemetry


def median_of(runs: int, measure: Callable[[], float]) -> float:
    """The median of ``runs`` calls of ``measure``."""
    return statistics.median(measure() for _ in range(runs))


def interleaved_medians(
    variants: Sequence[str], rounds: int, measure: Callable[[str], float]
) -> dict[str, float]:
    """Each variant's median of ``rounds`` calls of ``measure(variant)``.

    The variants take turns within each round, so drift on a shared machine hits every
    variant alike.
    """
    samples: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(rounds):
        for variant in variants:
            samples[variant].append(measure(variant))
    return {v: statistics.median(s) for v, s in samples.items()}


def machine_note() -> str:
    """CPU count, affinity (pinned or not) and Python version."""
    cpus = sorted(os.sched_getaffinity(0))
    pinned = (
        "pinned to CPU " + ",".join(map(str, cpus))
        if len(cpus) < (os.cpu_count() or 1)
        else "not pinned"
    )
    return f"{os.cpu_count()} CPUs, {pinned}, Python {platform.python_version()}"
