"""Throughput of a 3-actor pipeline: raw Pykka ``tell`` vs typed events over the bus.

Run: ``python -m tests.benchmarks.bench_hop`` (pin with ``taskset -c 0`` to remove the
cross-CPU wake-up cost). The variants take turns, round after round, so a noisy moment
of the machine falls on all of them; prints the median rates and the median of each
round's ratios. At most ``--window`` messages are in flight (a service with bounded
concurrency): with a producer that runs ahead, thousands of queued messages make the
collector's passes over them the measured cost. Garbage is collected before each clock
starts, so no variant pays for the setup of another.
"""

from __future__ import annotations

import argparse
import gc
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
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    Decision,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from actors import Actor
from bus import Event, EventBus, TaskStarted, Telemetry

from ._common import machine_note, sdk_provider

STAGES = ("a", "b", "c")


class Finish:
    """Where messages arrive at the last stage; bounds how many are in flight.

    With a ``window``, the producer waits while that many messages are in the pipeline
    (a service with bounded concurrency); ``0`` lets it run ahead, so up to ``n``
    messages wait in the first mailbox and the collector's passes over them dominate.
    """

    def __init__(self, n: int, window: int) -> None:
        self.n, self.seen, self.done = n, 0, threading.Event()
        self.slots = threading.Semaphore(window) if window else None

    def enter(self) -> None:
        if self.slots is not None:
            self.slots.acquire()

    def arrived(self) -> None:
        self.seen += 1
        if self.slots is not None:
            self.slots.release()
        if self.seen == self.n:
            self.done.set()


class RawStage(pykka.ThreadingActor):
    def __init__(self, nxt: pykka.ActorRef[Any] | None, finish: Finish) -> None:
        super().__init__()
        self.nxt, self.finish = nxt, finish

    def on_receive(self, message: Any) -> None:
        if self.nxt is not None:
            self.nxt.tell(message)
            return
        self.finish.arrived()


def request_contexts(n: int, sampler: Sampler) -> list[otel_context.Context]:
    """The contexts of ``n`` requests, each its own trace, sampled by ``sampler``.

    Each message is its own trace, as a request in a service would be: its parent is a
    request span made elsewhere, whose sampling decision (the sampler on a random trace
    id) is taken before the clock starts. The application makes the request's context
    current around the send whether the bus traces or not, so every variant does: the
    figures are the cost of the hops.
    """
    contexts = []
    for _ in range(n):
        trace_id = random.getrandbits(128)
        decision = sampler.should_sample(None, trace_id, "request")
        sampled = decision.decision is Decision.RECORD_AND_SAMPLE
        flags = TraceFlags(TraceFlags.SAMPLED if sampled else 0)
        parent = SpanContext(trace_id, random.getrandbits(64), False, flags)
        contexts.append(trace.set_span_in_context(NonRecordingSpan(parent)))
    return contexts


def run_raw(n: int, window: int) -> float:
    finish = Finish(n, window)
    c = RawStage.start(None, finish)
    b = RawStage.start(c, finish)
    a = RawStage.start(b, finish)
    parents = request_contexts(n, ALWAYS_OFF)
    gc.collect()  # what setting up made is old now: no variant pays for another's garbage
    t0 = time.perf_counter()
    for i, context in enumerate(parents):
        finish.enter()
        token = otel_context.attach(context)
        a.tell(("task", i))
        otel_context.detach(token)
    finish.done.wait()
    elapsed = time.perf_counter() - t0
    for ref in (a, b, c):
        ref.stop()
    return n / elapsed


class BusStage(Actor):
    def __init__(self, *, name: str, bus: EventBus, nxt: str | None, finish: Finish) -> None:
        super().__init__(name=name, bus=bus)
        self.nxt, self.finish = nxt, finish
        bus.subscribe(TaskStarted, name, recipient=name)

    def on_event(self, event: Event) -> None:
        if self.nxt is not None:
            assert self.bus is not None
            self.bus.publish(TaskStarted(agent=self.nxt, task_id=event.task_id, source=self.name))
            return
        self.finish.arrived()


def run_bus(
    n: int, window: int, setup: tuple[TracerProvider, Telemetry] | None, *, one: bool = False
) -> float:
    provider, telemetry = setup if setup is not None else (None, None)
    bus = EventBus(telemetry=telemetry, tracing=setup is not None, publish_spans=not one)
    finish = Finish(n, window)
    refs = [
        BusStage.start(
            name=s, bus=bus, nxt=STAGES[i + 1] if i + 1 < len(STAGES) else None, finish=finish
        )
        for i, s in enumerate(STAGES)
    ]
    parents = request_contexts(n, provider.sampler if provider is not None else ALWAYS_OFF)
    gc.collect()  # what setting up made is old now: no variant pays for another's garbage
    t0 = time.perf_counter()
    for i, context in enumerate(parents):
        finish.enter()
        token = otel_context.attach(context)
        bus.publish(TaskStarted(agent="a", task_id=str(i)))
        otel_context.detach(token)
    finish.done.wait()
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
    parser.add_argument(
        "--window", type=int, default=100, help="messages in flight at most (0: unbounded)"
    )
    args = parser.parse_args()
    n, runs, window = args.n, args.runs, args.window
    print(
        f"3-stage pipeline, {n} messages per run, at most {window or 'unbounded'} in flight; "
        f"the variants take turns, {runs} rounds, "
        f"medians of the rates and of each round's ratios; {machine_note()}"
    )
    full = sdk_provider()
    sampled = sdk_provider(TraceIdRatioBased(0.1))
    dropped = sdk_provider(ALWAYS_OFF)
    plain = sdk_provider(fast=False)
    variants: dict[str, Callable[[], float]] = {
        "raw pykka tell": lambda: run_raw(n, window),
        "bus, tracing off": lambda: run_bus(n, window, None),
        "bus, every span sampled": lambda: run_bus(n, window, full),
        "bus, parent-based 10% sampler": lambda: run_bus(n, window, sampled),
        "bus, every span, SDK's own spans": lambda: run_bus(n, window, plain),
        "bus, every span, one span a hop": lambda: run_bus(n, window, full, one=True),
        "bus, 10%, one span a hop": lambda: run_bus(n, window, sampled, one=True),
        "bus, parent-based 0% (all dropped)": lambda: run_bus(n, window, dropped),
    }
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs):  # taking turns spreads the machine's noisy moments over all
        for name, run in variants.items():
            rates[name].append(run())
    raw, off, on, ten, sdk, on1, ten1, zero = (rates[name] for name in variants)
    for name, got in rates.items():
        rate = statistics.median(got)
        print(
            f"  {name:34s} {rate:>10,.0f} msg/s   {1e6 / rate:7.1f} us/msg   "
            f"{rate / statistics.median(raw):5.2f}x raw"
        )

    def ratio(a: list[float], b: list[float]) -> float:
        return statistics.median(x / y for x, y in zip(a, b, strict=True))

    print(f"  bus tracing off / raw pykka:   {ratio(off, raw):.2f}x  (target >= 0.5x)")
    print(f"  traced hop cost / untraced:    {ratio(off, on):.2f}x  (target <= 3x)")
    print(f"  10% sampled cost / untraced:   {ratio(off, ten):.2f}x  (target <= 1.25x)")
    print(f"  SDK's own spans / untraced:    {ratio(off, sdk):.2f}x  (for comparison)")
    print(f"  one span a hop, all / untraced: {ratio(off, on1):.2f}x  (target <= 3x)")
    print(f"  one span a hop, 10% / untraced: {ratio(off, ten1):.2f}x  (target <= 1.25x)")
    print(f"  every hop dropped / untraced:   {ratio(off, zero):.2f}x  (the floor of sampling)")
    for provider, _ in (full, sampled, plain, dropped):
        provider.shutdown()


if __name__ == "__main__":
    main()
