"""llama.cpp's ``llama-server`` on 127.0.0.1 with the tiny random model, for the tests.

Found as ``$LLAMA_SERVER`` (a path) or ``llama-server`` on ``PATH``; CI has neither, so
the ``llama_cpp`` tests are skipped there (see ``tests/conftest.py``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.integration.tiny_gguf import write_tiny_gguf

START_TIMEOUT = 30.0  # seconds for the server to load the model and answer /health
N_PREDICT = 256  # tokens per answer when a request sets no max_tokens: the model never stops


def llama_server_binary() -> str | None:
    """``$LLAMA_SERVER`` if set, else ``llama-server`` on ``PATH``; ``None`` if neither."""
    return os.environ.get("LLAMA_SERVER") or shutil.which("llama-server")


class LlamaServer:
    """``llama-server -m tiny.gguf --jinja`` on a free 127.0.0.1 port; a context manager.

    Args:
        binary: The ``llama-server`` executable.
        n_predict: Tokens an answer may have when the request does not say (``-n``).

    Attributes:
        base_url: ``http://127.0.0.1:<port>/v1``.
        log: The server's output (kept for a failing test's message).
    """

    def __init__(self, binary: str, *, n_predict: int = N_PREDICT) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="actorchestra-llama-"))
        self._binary, self._n_predict = binary, n_predict
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log = self._dir / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Write the model, start the server, wait (at most 30 s) until ``/health`` is ok.

        Raises:
            RuntimeError: It exited, or was not healthy in time (the log's tail says why).
        """
        model = write_tiny_gguf(self._dir / "tiny.gguf")
        command = [self._binary, "-m", str(model), "--jinja", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "-n", str(self._n_predict)]
        with self.log.open("wb") as out:
            self._process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                msg = f"llama-server exited with {self._process.returncode}: {self.tail()}"
                raise RuntimeError(msg)
            try:
                with urllib.request.urlopen(f"{self.base_url[:-3]}/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        msg = f"llama-server was not healthy at {self.base_url} within {START_TIMEOUT} s: {self.tail()}"
        raise RuntimeError(msg)

    def tail(self, size: int = 2000) -> str:
        """The end of the server's log."""
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s) and remove its directory."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        shutil.rmtree(self._dir, ignore_errors=True)
