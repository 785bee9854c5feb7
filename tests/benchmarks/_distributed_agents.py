"""What the processes of ``bench_distributed`` host, and the entry point of autogen's.

* actorchestra workers (``python -m actors.worker --agents
  tests.benchmarks._distributed_agents:<factory>``): :func:`dag_agents` (no-op agents
  named in ``BENCH_AGENTS``), :func:`stage_agents` (one pipeline stage, ``BENCH_STAGE``,
  forwarding to ``BENCH_NEXT``), :func:`cpu_agents` (the agent ``cpu``, pure-Python
  arithmetic).
* Ray: :class:`RayNoOp` and :class:`RayStage`, plain classes the bench wraps with
  ``ray.remote`` (Ray's workers import this module: they get ``PYTHONPATH``).
* autogen-core's gRPC runtime: ``python -m tests.benchmarks._distributed_agents
  host ADDRESS`` runs a ``GrpcWorkerAgentRuntimeHost``; ``... worker ADDRESS --agents
  financial,legal,hr`` a ``GrpcWorkerAgentRuntime`` hosting no-op agents of those types;
  ``... worker ADDRESS --stage a --next b`` one pipeline stage. Each prints ``serving``
  once ready and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from autogen_core import (
    MessageContext,
    RoutedAgent,
    TopicId,
    TypeSubscription,
    event,
    rpc,
    try_get_known_serializers_for_type,
)

from actors import Actor, Agent, ChildSpec, TaskContext
from bus import Event, EventBus

from .bench_dag import NoOp

SINK = "sink"
"""Where the last stage of a pipeline sends each message: the bench process."""


# -- actorchestra -------------------------------------------------------------------------


class Item(Event):
    """One message of the pipeline, addressed to the stage ``stage``."""

    recipient_field: ClassVar[str | None] = "stage"

    type: Literal["bench.item"] = "bench.item"
    stage: str
    seq: int = 0


class Stage(Actor):
    """A pipeline stage: passes each :class:`Item` on to the next stage, ``nxt``."""

    def __init__(self, *, name: str, bus: EventBus, nxt: str) -> None:
        super().__init__(name=name, bus=bus)
        self.nxt = nxt

    def on_event(self, event: Event) -> None:
        assert isinstance(event, Item) and self.bus is not None
        self.bus.publish(Item(stage=self.nxt, seq=event.seq, source=self.name))


def stage_specs(bus: EventBus, name: str, nxt: str) -> list[ChildSpec]:
    """The stage ``name`` on ``bus``, subscribed to its items; ``nxt``'s items are routed.

    On a transport's bus, an item for ``nxt``, not bound in this process, goes to the
    process serving it: the subscription routes it, the worker's ``--reach`` declares
    ``nxt`` served elsewhere.
    """
    bus.subscribe(Item, name, recipient=name)
    bus.subscribe(Item, nxt, recipient=nxt)
    return [ChildSpec(id=name, start=lambda: Stage.start(name=name, bus=bus, nxt=nxt))]


def dag_agents(bus: EventBus) -> list[ChildSpec]:
    """No-op agents named in ``BENCH_AGENTS`` (comma-separated)."""
    return [NoOp.child_spec(name, bus) for name in os.environ["BENCH_AGENTS"].split(",")]


def stage_agents(bus: EventBus) -> list[ChildSpec]:
    """The pipeline stage ``BENCH_STAGE``, forwarding to ``BENCH_NEXT``."""
    return stage_specs(bus, os.environ["BENCH_STAGE"], os.environ["BENCH_NEXT"])


def burn(iterations: int) -> int:
    """Pure-Python arithmetic: holds the GIL for its whole run."""
    total = 0
    for i in range(iterations):
        total = (total + i * i) % 1_000_003
    return total


class Burner(Agent):
    """Burns the CPU for ``int(task.description)`` iterations; answers with its pid."""

    def handle(self, task: TaskContext) -> object:
        burn(int(task.description))
        return os.getpid()


def cpu_agents(bus: EventBus) -> list[ChildSpec]:
    """The agent ``cpu``."""
    return [Burner.child_spec("cpu", bus)]


# -- Ray (wrapped with ray.remote by the bench) -------------------------------------------


class RayNoOp:
    """A DAG task's no-op agent: its inputs (other tasks' results) are resolved by Ray."""

    def run(self, task_id: str, *inputs: str) -> str:
        return task_id


class RayStage:
    """A pipeline stage: returns its message, which Ray hands to the next stage."""

    def f(self, seq: int) -> int:
        return seq


# -- autogen-core's gRPC worker runtime ---------------------------------------------------


@dataclass
class Job:
    """A DAG task for an autogen agent, with its dependencies' results."""

    task_id: str
    inputs: list[str]


@dataclass
class Done:
    """A DAG task's result."""

    task_id: str


@dataclass
class Packet:
    """One message of the autogen pipeline."""

    seq: int


def autogen_serializers() -> list[Any]:
    """JSON serializers of the messages, for every runtime that sends or receives them."""
    return [s for t in (Job, Done, Packet) for s in try_get_known_serializers_for_type(t)]


class NoOpAgent(RoutedAgent):
    """Answers a :class:`Job` with its task id (an RPC through the host)."""

    def __init__(self) -> None:
        super().__init__("no-op")

    @rpc
    async def on_job(self, message: Job, ctx: MessageContext) -> Done:
        return Done(message.task_id)


class StageAgent(RoutedAgent):
    """Publishes each :class:`Packet` to the topic type ``nxt`` (through the host)."""

    def __init__(self, nxt: str) -> None:
        super().__init__("stage")
        self.nxt = nxt

    @event
    async def on_packet(self, message: Packet, ctx: MessageContext) -> None:
        await self.publish_message(Packet(message.seq), TopicId(self.nxt, "bench"))


class SinkAgent(RoutedAgent):
    """Where the pipeline ends, in the bench process: calls ``arrived`` per packet."""

    def __init__(self, arrived: Callable[[], None]) -> None:
        super().__init__("sink")
        self.arrived = arrived

    @event
    async def on_packet(self, message: Packet, ctx: MessageContext) -> None:
        self.arrived()


async def run_host(address: str) -> None:
    """A ``GrpcWorkerAgentRuntimeHost`` at ``address`` until SIGTERM or SIGINT."""
    from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntimeHost

    host = GrpcWorkerAgentRuntimeHost(address=address)
    host.start()
    await asyncio.sleep(0.5)  # start() schedules the server; let it bind
    print(f"autogen host: serving at {address}", flush=True)
    await host.stop_when_signal(grace=1)


async def run_worker(address: str, agents: Sequence[str], stage: str, nxt: str) -> None:
    """A ``GrpcWorkerAgentRuntime`` hosting ``agents`` (no-op) or the stage ``stage``."""
    from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime

    runtime = GrpcWorkerAgentRuntime(host_address=address)
    runtime.add_message_serializer(autogen_serializers())
    await runtime.start()
    for name in agents:
        await NoOpAgent.register(runtime, name, NoOpAgent)
    if stage:
        agent_type = f"stage_{stage}"
        await StageAgent.register(runtime, agent_type, lambda: StageAgent(nxt))
        await runtime.add_subscription(TypeSubscription(topic_type=stage, agent_type=agent_type))
    print(f"autogen worker: serving {[*agents, stage] if stage else list(agents)}", flush=True)
    await runtime.stop_when_signal()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="autogen-core gRPC processes of the bench")
    parser.add_argument("role", choices=["host", "worker"])
    parser.add_argument("address", help="host:port of the gRPC host")
    parser.add_argument("--agents", default="", help="no-op agent types, comma-separated")
    parser.add_argument("--stage", default="", help="the pipeline stage (a topic type)")
    parser.add_argument("--next", default="", help="the topic type the stage publishes to")
    args = parser.parse_args(argv)
    if args.role == "host":
        asyncio.run(run_host(args.address))
    else:
        agents = [a for a in args.agents.split(",") if a]
        asyncio.run(run_worker(args.address, agents, args.stage, args.next))
    return 0


if __name__ == "__main__":
    sys.exit(main())
