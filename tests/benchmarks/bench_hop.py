"""Throughput of a 3-actor pipeline: raw Pykka ``tell`` vs typed events over the bus.

Run: ``python -m tests.benchmarks.bench_hop`` (pin with ``taskset -c 0`` to remove the
cross-CPU wake-up cost). The variants take turns, round after round, so a noisy moment
of the machine falls on all of them; prints the median rates and the median of each
round's ratios.
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import pykka
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from actors import Actor
from bus import Event, EventBus, TaskStarted

from ._common import machine_note, sdk_provider

STAGES = ("a", "b", "c")


class RawStage(pykka.ThreadingActor):
    def __init__(self, nxt: pykka.ActorRef[Any] | None, done: threading.Event, n: int) -> None:
        super().__init__()
        self.nxt, self.done, self.n, self.seen = nxt, done, n, 0

    def on_receive(self, message: Any) -> None:
        if self.nxt is not None:
            self.nxt.tell(message)
            return
        self.seen += 1
        if self.seen == self.n:
            self.done.set()


def run_raw(n: int) -> float:
    done = threading.Event()
    c = RawStage.start(None, done, n)
    b = RawStage.start(c, done, n)
    a = RawStage.start(b, done, n)
    t0 = time.perf_counter()
    for i in range(n):
        a.tell(("task", i))
    done.wait()
    elapsed = time.perf_counter() - t0
    for ref in (a, b, c):
        ref.stop()
    return n / elapsed


class BusStage(Actor):
    def __init__(
        self, *, name: str, bus: EventBus, nxt: str | None, done: threading.Event, n: int
    ) -> None:
        super().__init__(name=name, bus=bus)
        self.nxt, self.done, self.n, self.seen = nxt, done, n, 0
        bus.subscribe(TaskStarted, name, recipient=name)

    def on_event(self, event: Event) -> None:
        if self.nxt is not None:
            assert self.bus is not None
            self.bus.publish(TaskStarted(agent=self.nxt, task_id=event.task_id, source=self.name))
            return
        self.seen += 1
        if self.seen == self.n:
            self.done.set()


def run_bus(n: int, provider: TracerProvider | None) -> float:
    bus = EventBus(tracer_provider=provider, tracing=provider is not None)
    done = threading.Event()
    refs = [
        BusStage.start(
            name=s, bus=bus, nxt=STAGES[i + 1] if i + 1 < len(STAGES) else None, done=done, n=n
        )
        for i, s in enumerate(STAGES)
    ]
    # Each message is its own trace, as a request in a service would be: its parent is a
    # request span made elsewhere, whose sampling decision (the provider's sampler on a
    # random trace id) is taken before the clock starts. The figure is the cost of the
    # hops; attaching the parent (about 1.5 us) counts against the traced variants.
    parents: list[SpanContext] = []
    if provider is not None:
        for _ in range(n):
            trace_id = random.getrandbits(128)
            decision = provider.sampler.should_sample(None, trace_id, "request")
            sampled = decision.decision is Decision.RECORD_AND_SAMPLE
            flags = TraceFlags(TraceFlags.SAMPLED if sampled else 0)
            parents.append(SpanContext(trace_id, random.getrandbits(64), False, flags))
    t0 = time.perf_counter()
    if not parents:
        for i in range(n):
            bus.publish(TaskStarted(agent="a", task_id=str(i)))
    else:
        for i, parent in enumerate(parents):
            token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(parent)))
            bus.publish(TaskStarted(agent="a", task_id=str(i)))
            otel_context.detach(token)
    done.wait()
    elapsed = time.perf_counter() - t0
    for ref in refs:
        ref.stop()
    if provider is not None:
        provider.force_flush()
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=10_000, help="messages per run")
    parser.add_argument("--runs", type=int, default=9, help="rounds (median)")
    args = parser.parse_args()
    n, runs = args.n, args.runs
    print(
        f"3-stage pipeline, {n} messages per run; the variants take turns, {runs} rounds, "
        f"medians of the rates and of each round's ratios; {machine_note()}"
    )
    full = sdk_provider()
    sampled = sdk_provider(ParentBased(TraceIdRatioBased(0.1)))
    variants: dict[str, Callable[[], float]] = {
        "raw pykka tell": lambda: run_raw(n),
        "bus, tracing off": lambda: run_bus(n, None),
        "bus, every span sampled": lambda: run_bus(n, full),
        "bus, parent-based 10% sampler": lambda: run_bus(n, sampled),
    }
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs):  # taking turns spreads the machine's noisy moments over all
        for name, run in variants.items():
            rates[name].append(run())
    raw, off, on, ten = (rates[name] for name in variants)
    for name, got in rates.items():
        rate = statistics.median(got)
        print(
            f"  {name:32s} {rate:>10,.0f} msg/s   {1e6 / rate:7.1f} us/msg   "
            f"{rate / statistics.median(raw):5.2f}x raw"
        )

    def ratio(a: list[float], b: list[float]) -> float:
        return statistics.median(x / y for x, y in zip(a, b, strict=True))

    print(f"  bus tracing off / raw pykka:   {ratio(off, raw):.2f}x  (target >= 0.5x)")
    print(f"  traced hop cost / untraced:    {ratio(off, on):.2f}x  (target <= 3x)")
    print(f"  10% sampled cost / untraced:   {ratio(off, ten):.2f}x  (target <= 1.3x)")
    full.shutdown()
    sampled.shutdown()


if __name__ == "__main__":
    main()
