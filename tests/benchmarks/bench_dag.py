"""The 6-task due-diligence DAG with no-op agents: actorchestra vs LangGraph vs bare Pykka.

t1-t4 in parallel, t5 after all four, t6 after t5; ours also with tracing on (SDK spans,
BatchSpanProcessor) and every event appended to a SQLite event log. Run:
``python -m tests.benchmarks.bench_dag`` (needs ``pip install -e '.[bench]'`` for
LangGraph; pin with ``taskset -c 0``). Prints the median time per DAG run and ratios.
"""

from __future__ import annotations

import argparse
import operator
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypedDict, cast

import pykka

from actors import Agent, Plan, Task, TaskContext, Team
from bus import EventBus
from memory import SQLiteEventLog

from ._common import machine_note, median_of, sdk_provider

AGENTS = ("financial", "legal", "hr", "market", "risk", "report")
DEPS = {"t1": (), "t2": (), "t3": (), "t4": (), "t5": ("t1", "t2", "t3", "t4"), "t6": ("t5",)}
PLAN = Plan(
    tasks=tuple(Task(id=t, agent=AGENTS[i], depends_on=DEPS[t]) for i, t in enumerate(DEPS))
)


class NoOp(Agent):
    def handle(self, task: TaskContext) -> object:
        return task.task_id


def per_run(fn: Callable[[], object], n: int) -> float:
    fn()  # warm up
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def ours(n: int, runs: int, *, traced: bool, event_log: bool = False) -> float:
    provider, telemetry = sdk_provider() if traced else (None, None)
    with tempfile.TemporaryDirectory() as scratch:
        log = SQLiteEventLog(Path(scratch) / "log.db") if event_log else None
        bus = EventBus(telemetry=telemetry, tracing=traced, event_log=log)
        agents = [NoOp.child_spec(a, bus) for a in AGENTS]
        with Team(agents, bus=bus) as team:
            result = median_of(runs, lambda: per_run(lambda: team.run(PLAN, timeout=10), n))
        if log is not None:
            log.close()
    if provider is not None:
        provider.shutdown()
    return result


class Worker(pykka.ThreadingActor):
    def __init__(self, coordinator: pykka.ActorRef[Any]) -> None:
        super().__init__()
        self.coordinator = coordinator

    def on_receive(self, message: Any) -> None:
        self.coordinator.tell(("done", message[1]))


class Coordinator(pykka.ThreadingActor):
    """A bare coordinator: dispatches ready tasks to four workers, no types, no retries."""

    def __init__(self) -> None:
        super().__init__()
        self.workers: list[pykka.ActorRef[Any]] = []
        self.waiting: dict[str, int] = {}
        self.done: threading.Event | None = None

    def on_receive(self, message: Any) -> None:
        if message[0] == "run":
            self.done = message[1]
            self.waiting = {t: len(d) for t, d in DEPS.items()}
            for t, d in DEPS.items():
                if not d:
                    self.workers[int(t[1]) % 4].tell(("task", t))
            return
        finished = message[1]
        if finished == "t6":
            assert self.done is not None
            self.done.set()
            return
        for t, d in DEPS.items():
            if finished in d:
                self.waiting[t] -= 1
                if self.waiting[t] == 0:
                    self.workers[int(t[1]) % 4].tell(("task", t))


def bare(n: int, runs: int) -> float:
    coord: pykka.ActorRef[Any] = Coordinator.start()
    workers = [Worker.start(coord) for _ in range(4)]
    coord.proxy().workers = workers

    def once() -> None:
        done = threading.Event()
        coord.tell(("run", done))
        done.wait(10)

    try:
        return median_of(runs, lambda: per_run(once, n))
    finally:
        for ref in [*workers, coord]:
            ref.stop()


def langgraph(n: int, runs: int, *, checkpointer: bool) -> float:
    from langgraph.checkpoint.memory import MemorySaver
    from langgraph.graph import END, START, StateGraph

    class State(TypedDict):
        results: Annotated[list[str], operator.add]

    def node(name: str) -> Callable[[State], dict[str, list[str]]]:
        return lambda _state: {"results": [name]}

    graph = StateGraph(State)
    for t in DEPS:
        cast("Any", graph).add_node(t, node(t))  # typed loosely: langgraph may be absent
    for t in ("t1", "t2", "t3", "t4"):
        graph.add_edge(START, t)
    graph.add_edge(["t1", "t2", "t3", "t4"], "t5")
    graph.add_edge("t5", "t6")
    graph.add_edge("t6", END)
    if checkpointer:
        app = graph.compile(checkpointer=MemorySaver())
        counter = iter(range(10**9))
        return median_of(
            runs,
            lambda: per_run(
                lambda: app.invoke(
                    {"results": []}, {"configurable": {"thread_id": str(next(counter))}}
                ),
                n,
            ),
        )
    app = graph.compile()
    return median_of(runs, lambda: per_run(lambda: app.invoke({"results": []}), n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200, help="DAG runs per measurement")
    parser.add_argument("--runs", type=int, default=5, help="measurements per variant (median)")
    args = parser.parse_args()
    n, runs = args.n, args.runs
    print(f"6-task DAG, no-op agents, {n} DAG runs x {runs} (median); {machine_note()}")
    rows = {
        "actorchestra, tracing off": ours(n, runs, traced=False),
        "actorchestra, tracing on": ours(n, runs, traced=True),
        "actorchestra, tracing on + SQLite log": ours(n, runs, traced=True, event_log=True),
        "bare pykka coordinator": bare(n, runs),
        "langgraph invoke": langgraph(n, runs, checkpointer=False),
        "langgraph invoke + MemorySaver": langgraph(n, runs, checkpointer=True),
    }
    lg = rows["langgraph invoke"]
    for name, secs in rows.items():
        print(f"  {name:38s} {secs * 1e3:7.3f} ms/run   langgraph/this = {lg / secs:5.2f}x")
    off = rows["actorchestra, tracing off"]
    print(f"  speed-up over langgraph invoke (tracing off): {lg / off:.2f}x  (target >= 5x)")
    print(
        f"  cost vs bare pykka coordinator:               {off / rows['bare pykka coordinator']:.2f}x"
    )
    durable = rows["actorchestra, tracing on + SQLite log"]
    saver = rows["langgraph invoke + MemorySaver"]
    print(
        f"  speed-up, tracing on + SQLite event log over langgraph + MemorySaver: "
        f"{saver / durable:.2f}x  (target >= 2x)"
    )


if __name__ == "__main__":
    main()
