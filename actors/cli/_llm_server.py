"""``actorchestra llm-server``: the local OpenAI-compatible server, for other programs' tests."""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import CommandError

if TYPE_CHECKING:
    from actors.testing import Reply, Responder

__all__ = ["llm_server_command", "load_script"]


def load_script(path: str) -> list[Reply]:
    """The replies in JSON file ``path``: a list of strings (text answers) or objects.

    An object has :class:`actors.testing.Reply`'s fields: ``content``, ``tool_calls``
    (``[[name, {arguments}], ...]``), ``status``, ``retry_after``, ``delay`` (seconds),
    ``drop``, ``cached_tokens``.

    Raises:
        CommandError: The file is missing, not JSON, or not such a list.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        msg = f"{path}: no such file"
        raise CommandError(msg) from None
    except json.JSONDecodeError as exc:
        msg = f"{path}: not JSON (line {exc.lineno}: {exc.msg})"
        raise CommandError(msg) from None
    if not isinstance(data, list) or not data:
        msg = f"{path}: expected a non-empty JSON list of replies"
        raise CommandError(msg)
    return [_reply(path, i, item) for i, item in enumerate(data)]


def _reply(path: str, index: int, item: Any) -> Reply:  # noqa: ANN401 - parsed JSON
    from actors.testing import Reply  # noqa: PLC0415 - only this command needs the kit

    if isinstance(item, str):
        return Reply.text(item)
    if isinstance(item, dict):
        fields = dict(item)
        calls = fields.pop("tool_calls", [])
        try:
            return Reply(**fields, tool_calls=tuple((str(n), a) for n, a in calls))
        except (TypeError, ValueError) as exc:
            msg = f"{path}: reply {index} is not a reply ({exc})"
            raise CommandError(msg) from None
    msg = f"{path}: reply {index} is {type(item).__name__}, not a string or an object"
    raise CommandError(msg)


def llm_server_command(args: argparse.Namespace) -> int:
    """Serve the script on 127.0.0.1 until SIGINT or SIGTERM (or ``--lifetime`` seconds).

    Prints the base URL (``http://127.0.0.1:<port>/v1``) as the first line of standard
    output, once the server accepts connections.
    """
    from actors.testing import FakeLLMServer, LLMFaults  # noqa: PLC0415

    replies = load_script(args.script)
    source = itertools.cycle(replies) if args.cycle else iter(replies)
    lock = threading.Lock()

    def scripted(_request: dict[str, Any]) -> Reply:
        with lock:
            reply = next(source, None)
        if reply is None:
            msg = "the scripted replies are exhausted"
            raise RuntimeError(msg)
        return reply

    responder: Responder = scripted
    if args.faults or args.fault_probability:
        probabilities = {}
        for item in args.fault_probability:
            kind, _, p = item.partition("=")
            try:
                probabilities[kind] = float(p)
            except ValueError:
                msg = f"--fault-probability {item!r}: expected KIND=P, e.g. rate_limit=0.2"
                raise CommandError(msg) from None
        script = [None if k == "none" else k for k in args.faults.split(",") if k]
        responder = LLMFaults(
            scripted,
            script=script,
            probabilities=probabilities,
            seed=args.seed,
            retry_after=args.retry_after,
            slow_seconds=args.slow_seconds,
        )
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    make = FakeLLMServer.llama_cpp_like if args.llama_cpp_like else FakeLLMServer
    with make(responder, model=args.model, port=args.port) as server:
        print(server.base_url, flush=True)
        stopped.wait(args.lifetime)
    return 0
