"""A process calling ``JetStreamIdempotencyStore.run_once``, for tests of other processes.

    python -m tests.memory.effects_child URL NAMESPACE KEYS RUNS_FILE race|hang

``race``: prints ``ready``, waits for a line on stdin, then for each of the
comma-separated KEYS runs its side effect (append ``<key> <pid>`` to RUNS_FILE) once per
key, and prints the results, one a line.
``hang``: claims the first key and prints ``running`` from inside the call, which never
ends (the test kills the process there).
"""

from __future__ import annotations

import functools
import os
import sys
import time
from pathlib import Path

from bus import NatsTransport
from memory import JetStreamIdempotencyStore


def main() -> None:
    url, namespace, keys, runs, mode = sys.argv[1:6]
    transport = NatsTransport(url, namespace=namespace)
    store = JetStreamIdempotencyStore(transport, lease=1.0)

    def effect(key: str) -> str:
        with Path(runs).open("a") as out:
            out.write(f"{key} {os.getpid()}\n")
        if mode == "hang":
            print("running", flush=True)
            time.sleep(600)
        return f'"paid by {os.getpid()}"'

    print("ready", flush=True)
    if mode == "race":
        sys.stdin.readline()
    for key in keys.split(","):
        print(store.run_once(key, functools.partial(effect, key), 10), flush=True)
    transport.close()


if __name__ == "__main__":
    main()
