"""Side effects once per key across processes: a JetStream key-value bucket's atomic create.

The contract tests shared with the other stores are in ``tests/actors/test_idempotency.py``
(its ``store`` fixture includes this store).
"""

from __future__ import annotations

import asyncio
import functools
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from actors.testing.nats_server import NatsServer
from bus import NatsTransport
from memory import JetStreamIdempotencyStore, SideEffectBusyError
from tests.helpers import ROOT, running

Transports = Callable[..., NatsTransport]


def child(
    nats_server: NatsServer, namespace: str, key: str, runs: Path, mode: str
) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.memory.effects_child",
            nats_server.url,
            namespace,
            key,
            str(runs),
            mode,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def test_two_processes_racing_for_keys_run_each_call_once(
    nats_server: NatsServer, nats_namespace: str, transports: Transports, tmp_path: Path
) -> None:
    runs = tmp_path / "runs.txt"
    keys = [f"k{i}" for i in range(40)] + ["a key/with spaces é"]
    other = child(nats_server, nats_namespace, ",".join(keys), runs, "race")
    store = JetStreamIdempotencyStore(transports(), lease=1.0)

    def effect(key: str) -> str:
        with runs.open("a") as out:
            out.write(f"{key} here\n")
        return '"paid here"'

    assert other.stdin is not None
    other.stdin.write("go\n")
    other.stdin.flush()
    here = [store.run_once(key, functools.partial(effect, key), 10) for key in keys]
    out, _ = other.communicate(timeout=60)
    assert other.returncode == 0
    assert sorted(line.rsplit(" ", 1)[0] for line in runs.read_text().splitlines()) == sorted(keys)
    assert out.splitlines() == here


def test_of_two_callers_that_both_found_a_key_free_one_claims_it(transports: Transports) -> None:
    # Two connections (as two processes) both look the key up before either claims it:
    # only the bucket's atomic create keeps the call from running twice.
    stores = [JetStreamIdempotencyStore(transports(), lease=5.0) for _ in range(2)]
    both_looked = threading.Barrier(2)
    for store in stores:
        look = store._get

        async def gated(name: str, look: Callable[[str], Any] = look) -> Any:
            found = await look(name)
            if found is None:
                await asyncio.to_thread(both_looked.wait, 5)
            return found

        store._get = gated  # type: ignore[method-assign]
    runs: list[str] = []
    results: list[str] = []

    def call(store: JetStreamIdempotencyStore, name: str) -> None:
        def effect() -> str:
            runs.append(name)
            return f'"{name}"'

        results.append(store.run_once("k", effect, 10))

    threads = [
        threading.Thread(target=call, args=(s, n)) for s, n in zip(stores, "ab", strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(runs) == 1
    assert results == [f'"{runs[0]}"'] * 2


def test_a_claim_whose_holder_died_is_taken_over_after_its_lease(
    nats_server: NatsServer,
    nats_namespace: str,
    transports: Transports,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs = tmp_path / "runs.txt"
    dead = child(nats_server, nats_namespace, "k", runs, "hang")
    assert dead.stdout is not None
    assert dead.stdout.readline().strip() == "running"
    dead.send_signal(signal.SIGKILL)
    dead.communicate(timeout=10)  # and close its pipes
    store = JetStreamIdempotencyStore(transports(), lease=1.0)
    with pytest.raises(SideEffectBusyError):  # the claim is fresh: still its holder's
        store.run_once("k", lambda: '"again"', 0.2)
    assert store.run_once("k", lambda: '"again"', 10) == '"again"'
    assert store.in_doubt == 1
    assert "did not renew its claim for 1.0 s" in caplog.text
    assert store.run_once("k", lambda: '"thrice"', 1) == '"again"'


def test_a_live_holder_keeps_its_claim_past_the_lease(transports: Transports) -> None:
    holder = JetStreamIdempotencyStore(transports(), lease=1.0)
    waiter = JetStreamIdempotencyStore(transports(), lease=1.0)
    with (
        running(holder, "k", '"slow"'),
        pytest.raises(
            SideEffectBusyError,
            match=r"^Side effect 'k' is still running in another attempt after 3.0 s\.$",
        ),
    ):
        waiter.run_once("k", lambda: '"twice"', 3.0)  # three leases: renewed meanwhile
    assert waiter.run_once("k", lambda: '"twice"', 5) == '"slow"'
    assert waiter.in_doubt == 0


def test_results_outlive_the_connection_and_are_forgotten_with_their_workflow(
    transports: Transports,
) -> None:
    first = JetStreamIdempotencyStore(transports())
    first.run_once("k1", lambda: '"one"', 1, workflow_id="old")
    first.run_once("k2", lambda: '"two"', 1, workflow_id="new")
    again = JetStreamIdempotencyStore(transports())
    assert again.run_once("k1", lambda: '"other"', 1) == '"one"'
    assert len(again) == 2
    assert again.forget("old") == 1
    assert len(again) == 1
    assert again.run_once("k1", lambda: '"other"', 1) == '"other"'
    # A result an older release stored under another key (an alias) is found too.
    assert again.run_once("k3", lambda: '"three"', 1, aliases=["k2"]) == '"two"'
