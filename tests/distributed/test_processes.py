"""Teams whose agents run in worker processes (``python -m actors.worker``), over real NATS."""

from __future__ import annotations

import collections
import importlib.util
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import Limits, Plan, RemoteAgent, Task, Team
from actors.testing import FakeLLMServer
from actors.testing.nats_server import NatsServer
from bus import EventBus, NatsTransport
from tests.distributed.conftest import fresh_namespace

ROOT = Path(__file__).resolve().parents[2]


def example(name: str) -> ModuleType:
    """An example script, imported as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class WorkerProcess:
    """``python -m actors.worker`` hosting ``tests.distributed.agents:<factory>``."""

    def __init__(self, url: str, namespace: str, name: str, env: dict[str, str]) -> None:
        command = [
            sys.executable, "-m", "actors.worker", "--nats", url, "--namespace", namespace,
            "--name", name, "--ack-wait", "1", "--agents", "tests.distributed.agents:ledger_agents",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if "serving" in line:
                self.ready.set()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    with NatsServer() as nats_server:
        yield nats_server


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tasks=st.integers(4, 8), victim=st.integers(0, 1), kill_after=st.floats(0.05, 0.35))
def test_a_worker_killed_mid_task_leaves_its_work_to_the_pool(
    server: NatsServer, tmp_path_factory: pytest.TempPathFactory, tasks: int, victim: int,
    kill_after: float,
) -> None:  # fmt: skip
    ledger = tmp_path_factory.mktemp("ledger")
    namespace = fresh_namespace()
    env = {"LEDGER": str(ledger), "DELAY": "0.1"}  # a task takes 0.2 s: the kill lands mid-run
    workers = [WorkerProcess(server.url, namespace, f"w{i}", env) for i in range(2)]
    transport = NatsTransport(server.url, namespace=namespace, ack_wait=1.0)
    team = Team(
        [RemoteAgent("work")], transport=transport, limits=Limits(max_in_flight=8, task_timeout=60)
    )
    try:
        assert all(w.ready.wait(30) for w in workers)
        plan = Plan(tasks=[Task(id=f"t{i}", agent="work") for i in range(tasks)])
        future = team.submit(plan)
        time.sleep(kill_after)
        workers[victim].process.kill()  # SIGKILL: no drain, no acknowledgement
        result = future.get(timeout=60)
    finally:
        team.stop()
        transport.close(drain_timeout=1)
        for worker in workers:
            worker.stop()
    assert result.ok, [t.error for t in result.tasks]
    assert sorted(t.task_id for t in result.tasks) == sorted(f"t{i}" for i in range(tasks))
    applied = sorted(p.name for p in ledger.glob("applied-*"))
    assert len(applied) == tasks  # each payment applied exactly once
    lines = (ledger / "calls.log").read_text().splitlines()
    calls = collections.Counter(line.split()[0] for line in lines)
    assert len(calls) == tasks
    assert sum(calls.values()) - tasks <= 1  # only the call in flight at the kill may repeat


def test_the_due_diligence_team_across_three_processes_gives_the_one_process_result(
    server: NatsServer,
) -> None:
    dd = example("due_diligence")
    distributed = example("distributed_due_diligence")
    company = dd.load_company(dd.DEFAULT_INPUT)
    plan = Plan.model_validate(dd.PLAN)
    with FakeLLMServer(dd.offline_responder) as llm:
        bus = EventBus(tracing=False)
        with Team(dd.build_agents(bus, llm.client(), "offline", company), bus=bus) as local:
            expected = local.run(plan, timeout=60)
        env = {"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "offline"}
        env["OPENAI_MODEL"] = "offline"
        namespace = distributed.NAMESPACE
        workers = [
            distributed.start_worker(name, agents, server.url, {**os.environ, **env})
            for name, agents in distributed.WORKERS.items()
        ]
        transport = NatsTransport(server.url, namespace=namespace)
        remote = [RemoteAgent(name) for name in dd.AGENTS]
        try:
            with Team(remote, transport=transport) as team:
                result = team.run(plan, timeout=60)
        finally:
            transport.close(drain_timeout=1)
            for worker in workers:
                distributed.stop_worker(worker)
    assert result.ok
    assert [(t.task_id, t.agent, t.result) for t in result.tasks] == [
        (t.task_id, t.agent, t.result) for t in expected.tasks
    ]
