"""Throughput of a 3-actor pipeline: raw Pykka ``tell`` vs typed events over the bus.

Run: ``python -m tests.benchmarks.bench_hop`` (pin with ``taskset -c 0`` to remove the
cross-CPU wake-up cost). Prints the median of several runs and the ratios.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

import pykka
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from actors import Actor
from bus import Event, EventBus, TaskStarted

from ._common import machine_note, median_of, sdk_provider

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
    # Each message is its own trace, as a request in a service would be. The root spans are
    # made before the clock starts: the figure is the cost of the hops, not of the roots.
    roots: list[otel_context.Context] = []
    if provider is not None:
        tracer = provider.get_tracer("bench")
        for _ in range(n):
            root = tracer.start_span("request")
            roots.append(trace.set_span_in_context(root))
            root.end()
    t0 = time.perf_counter()
    if not roots:
        for i in range(n):
            bus.publish(TaskStarted(agent="a", task_id=str(i)))
    else:
        for i, ctx in enumerate(roots):
            token = otel_context.attach(ctx)
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
    parser.add_argument("-n", type=int, default=20_000, help="messages per run")
    parser.add_argument("--runs", type=int, default=5, help="runs per variant (median)")
    args = parser.parse_args()
    n, runs = args.n, args.runs
    print(f"3-stage pipeline, {n} messages per run, median of {runs} runs; {machine_note()}")
    raw = median_of(runs, lambda: run_raw(n))
    off = median_of(runs, lambda: run_bus(n, None))
    full = sdk_provider()
    on = median_of(runs, lambda: run_bus(n, full))
    sampled = sdk_provider(ParentBased(TraceIdRatioBased(0.1)))
    ten = median_of(runs, lambda: run_bus(n, sampled))
    rows = [
        ("raw pykka tell", raw),
        ("bus, tracing off", off),
        ("bus, every span sampled", on),
        ("bus, parent-based 10% sampler", ten),
    ]
    for name, rate in rows:
        print(
            f"  {name:32s} {rate:>10,.0f} msg/s   {1e6 / rate:7.1f} us/msg   {rate / raw:5.2f}x raw"
        )
    print(f"  bus tracing off / raw pykka:   {off / raw:.2f}x  (target >= 0.5x)")
    print(f"  traced hop cost / untraced:    {off / on:.2f}x  (target <= 3x)")
    print(f"  10% sampled cost / untraced:   {off / ten:.2f}x  (target <= 1.3x)")
    full.shutdown()
    sampled.shutdown()


if __name__ == "__main__":
    main()
