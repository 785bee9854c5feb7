"""A local OpenAI-compatible Chat Completions server with scripted replies."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sys
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from .llm_wire import ALL_RESPONSE_FORMATS, completion, model_list, refusal, sse_chunks

if TYPE_CHECKING:
    import openai

__all__ = ["FakeLLMServer", "Reply", "Responder"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted assistant message.

    Attributes:
        content: The message text (``None`` when it only calls tools).
        tool_calls: ``(tool name, arguments)`` pairs; arguments are a dict (sent as
            JSON) or raw text (sent as is, e.g. to test malformed JSON).
        status: HTTP status; other than 200, an OpenAI-style error body is sent.
        error_message: The error body's message (``injected HTTP <status>`` if empty).
        retry_after: Seconds for a ``Retry-After`` header (with 429 or 503).
        delay: Seconds the server waits before answering (past the client's timeout,
            the client sees a timeout).
        drop: Close the connection without answering.
        cached_tokens: Prompt tokens the reply's ``usage`` reports as read from the
            prompt cache (``prompt_tokens_details.cached_tokens``, at most the prompt's).
        chunk_delay: Seconds between two chunks of a streamed answer.
    """

    content: str | None = None
    tool_calls: tuple[tuple[str, dict[str, Any] | str], ...] = field(default=())
    status: int = 200
    retry_after: float | None = None
    delay: float = 0.0
    drop: bool = False
    cached_tokens: int = 0
    chunk_delay: float = 0.0
    error_message: str = ""

    @classmethod
    def error(cls, status: int, retry_after: float | None = None, message: str = "") -> Reply:
        """An HTTP error, e.g. ``Reply.error(429, retry_after=0.2)`` or ``Reply.error(500)``."""
        return cls(status=status, retry_after=retry_after, error_message=message)

    @classmethod
    def dropped(cls) -> Reply:
        """A connection closed with no answer."""
        return cls(drop=True)

    @classmethod
    def text(cls, content: str) -> Reply:
        """A final text answer."""
        return cls(content=content)

    @classmethod
    def json(cls, value: object) -> Reply:
        """A final answer that is ``value`` as JSON text."""
        return cls(content=json.dumps(value))

    @classmethod
    def calls(cls, *calls: tuple[str, dict[str, Any] | str]) -> Reply:
        """An answer that calls tools."""
        return cls(tool_calls=tuple(calls))


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away (an abandoned, cancelled call) is routine: DEBUG."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):
            logger.debug("FakeLLMServer: client %s went away (%s)", client_address, exc)
            return
        logger.warning("FakeLLMServer: error serving %s", client_address, exc_info=exc)


Responder = Callable[[dict[str, Any]], Reply]
"""Turns a decoded Chat Completions request body into the reply; runs in a server thread."""


class FakeLLMServer:
    """An OpenAI-compatible HTTP server on 127.0.0.1, for offline runs and tests.

    It answers ``POST /v1/chat/completions`` with the reply its responder gives for
    each request body (or the next of a fixed list of replies), including
    ``tool_calls``, ``finish_reason`` and a deterministic ``usage`` (about 4 characters
    per token); with ``"stream": true``, as server-sent events (``text/event-stream``
    of ``chat.completion.chunk`` objects, a usage chunk when ``stream_options`` asks,
    then ``data: [DONE]``; see :func:`~actors.testing.llm_wire.sse_chunks`). It answers
    ``GET /v1/models`` with its one model. Every request body is recorded in
    :attr:`requests`. A responder that raises yields HTTP 500 with an OpenAI-style
    error body. Start it with ``with`` or :meth:`start`; it binds a free port unless
    given one.

    To act like a server that takes less than OpenAI's API (:meth:`llama_cpp_like`), it
    refuses with HTTP 400, before asking the responder (so the refused request is
    recorded but uses no reply), a request whose ``response_format`` type is not in
    ``response_formats``, one offering tools when ``tools`` is false, and with
    ``strict_messages`` one whose messages have a field outside the wire shape of
    OpenAI's API reference or lack ``content``.

    Args:
        responder: A :data:`Responder`, or a sequence of replies given in turn (an
            exhausted script answers 500).
        model: The model name reported in responses.
        port: TCP port on 127.0.0.1; ``0`` picks a free one.
        response_formats: The ``response_format`` types it takes (all three by
            default; llama.cpp's server: ``("text", "json_object")``).
        tools: Whether it takes requests offering tools (llama.cpp's server without
            ``--jinja`` does not).
        strict_messages: Refuse messages with fields it does not know, or no
            ``content``.

    Example:
        >>> with FakeLLMServer([Reply.text("hello")]) as server:
        ...     reply = server.client().chat.completions.create(
        ...         model="m", messages=[{"role": "user", "content": "hi"}])
        >>> reply.choices[0].message.content
        'hello'
    """

    def __init__(
        self,
        responder: Responder | Sequence[Reply],
        *,
        model: str = "fake-model",
        port: int = 0,
        response_formats: Collection[str] = ALL_RESPONSE_FORMATS,
        tools: bool = True,
        strict_messages: bool = False,
    ) -> None:
        self.response_formats = tuple(response_formats)
        self.tools = tools
        self.strict_messages = strict_messages
        if callable(responder):
            self._responder: Responder = responder
        else:
            script = iter(list(responder))

            def scripted(_request: dict[str, Any]) -> Reply:
                try:
                    return next(script)
                except StopIteration:
                    msg = "the scripted replies are exhausted"
                    raise RuntimeError(msg) from None

            self._responder = scripted
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._clients: list[openai.OpenAI] = []

    @classmethod
    def llama_cpp_like(cls, responder: Responder | Sequence[Reply], **kwargs: Any) -> Self:  # noqa: ANN401
        """A server that takes what llama.cpp's ``llama-server`` takes, no more.

        ``response_format`` of type ``text`` or ``json_object`` only (its older builds;
        newer ones take ``json_schema`` too), and only messages in the plain wire shape
        with ``content`` present (its chat templates read it). ``kwargs`` as for the
        constructor.
        """
        kwargs.setdefault("response_formats", ("text", "json_object"))
        kwargs.setdefault("strict_messages", True)
        return cls(responder, **kwargs)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``, for ``OPENAI_BASE_URL`` or ``OpenAI(base_url=)``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def client(self, **kwargs: Any) -> openai.OpenAI:  # noqa: ANN401
        """An ``openai.OpenAI`` client for this server (no retries unless asked).

        The server closes the clients it made when it stops.
        """
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 10.0)
        import openai  # noqa: PLC0415 - only for tests that talk to the server through it

        client = openai.OpenAI(base_url=self.base_url, api_key="offline", **kwargs)
        self._clients.append(client)
        return client

    def start(self) -> Self:
        """Serve in a background thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="FakeLLMServer", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and the clients made by :meth:`client`."""
        self._stopped.set()
        for client in self._clients:
            client.close()
        self._clients.clear()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def reply(self, body: dict[str, Any]) -> Reply:
        """Record ``body`` and ask the responder for the reply."""
        with self._lock:
            self.requests.append(body)
        return self._responder(body)

    def completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        """Build the chat.completion response that carries ``reply``."""
        return completion(body, reply, self.model)

    def refusal(self, body: dict[str, Any]) -> str | None:
        """Why this server refuses ``body`` (an HTTP 400), given its limits; ``None``."""
        return refusal(
            body,
            response_formats=self.response_formats,
            tools=self.tools,
            strict_messages=self.strict_messages,
        )

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                path = self.path.rstrip("/")
                if path == "/v1/models":
                    self._send(HTTPStatus.OK, model_list(server.model))
                elif path == f"/v1/models/{server.model}":
                    self._send(HTTPStatus.OK, model_list(server.model)["data"][0])
                else:
                    self._send(HTTPStatus.NOT_FOUND, _error(f"no route {self.path}"))

            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(HTTPStatus.NOT_FOUND, _error(f"no route {self.path}"))
                    return
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError as exc:
                    self._send(HTTPStatus.BAD_REQUEST, _error(f"invalid JSON: {exc}"))
                    return
                refused = server.refusal(body)
                if refused is not None:
                    with server._lock:
                        server.requests.append(body)
                    error = {
                        "error": {"code": 400, "message": refused, "type": "invalid_request_error"}
                    }
                    self._send(HTTPStatus.BAD_REQUEST, error)
                    return
                try:
                    reply = server.reply(body)
                    response = server.completion(body, reply)
                except Exception as exc:
                    logger.exception("FakeLLMServer responder failed")
                    self._send(HTTPStatus.INTERNAL_SERVER_ERROR, _error(f"responder: {exc}"))
                    return
                if reply.delay > 0:
                    server._stopped.wait(min(reply.delay, 30.0))  # cut short by stop()
                if reply.drop:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if reply.status != HTTPStatus.OK:
                    headers = {}
                    if reply.retry_after is not None:
                        headers["Retry-After"] = f"{reply.retry_after:g}"
                        headers["retry-after-ms"] = str(int(reply.retry_after * 1000))
                    error = _error(reply.error_message or f"injected HTTP {reply.status}")
                    self._send(HTTPStatus(reply.status), error, headers)
                    return
                if body.get("stream"):
                    self._stream(body, reply)
                    return
                self._send(HTTPStatus.OK, response)

            def _stream(self, body: dict[str, Any], reply: Reply) -> None:
                """Send ``reply`` as server-sent events, in HTTP/1.1 chunks."""
                try:
                    self.send_response(HTTPStatus.OK)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Cache-Control", "no-cache")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    events = [json.dumps(c) for c in sse_chunks(body, reply, server.model)]
                    for data in [*events, "[DONE]"]:
                        payload = f"data: {data}\n\n".encode()
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
                        self.wfile.flush()
                        if reply.chunk_delay > 0:
                            server._stopped.wait(reply.chunk_delay)
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:  # the client gave up (closed the stream)
                    self.close_connection = True

            def _send(
                self,
                status: HTTPStatus,
                payload: dict[str, Any],
                headers: dict[str, str] | None = None,
            ) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (e.g. its timeout passed)
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: ANN401
                logger.debug("FakeLLMServer: " + format, *args)

        return Handler


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "server_error", "code": None}}


def tool_names(request: dict[str, Any]) -> list[str]:
    """Names of the tools offered in a Chat Completions request body."""
    tools: Iterable[dict[str, Any]] = request.get("tools") or []
    return [t["function"]["name"] for t in tools]
