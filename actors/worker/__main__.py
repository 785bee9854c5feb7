r"""``python -m actors.worker``: host a team's agents in this process, over NATS.

Example::

    python -m actors.worker --nats nats://127.0.0.1:4222 \\
        --agents examples.due_diligence:agents --namespace dd

``--agents`` names a factory ``package.module:attribute``: a callable taking the
worker's :class:`bus.EventBus` and returning the agents' child specs. Telemetry comes
from the standard ``OTEL_*`` variables when the ``[otlp]`` extra is installed and
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set. SIGTERM or SIGINT stops it gracefully: no new
work is taken, attempts in progress end or are handed back to the pool.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from actors._errors import ConfigurationError
from bus import OperationalError, Telemetry

from . import AgentFactory, Worker

if TYPE_CHECKING:
    from actors.telemetry import TelemetrySetup

__all__ = ["load_factory", "main"]


def load_factory(spec: str) -> AgentFactory:
    """The factory ``package.module:attribute`` names.

    Raises:
        ConfigurationError: ``spec`` is malformed, or names nothing callable.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        msg = f"--agents {spec!r}: expected package.module:factory"
        raise ConfigurationError(msg)
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        msg = f"--agents {spec!r}: {exc}"
        raise ConfigurationError(msg) from None
    if not callable(factory):
        msg = f"--agents {spec!r} is not callable"
        raise ConfigurationError(msg)
    return factory  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> int:
    """Run a worker until SIGTERM or SIGINT; 2 for a bad command line, 1 if NATS fails."""
    parser = argparse.ArgumentParser(prog="python -m actors.worker", description=__doc__)
    parser.add_argument("--nats", default="nats://127.0.0.1:4222", help="NATS server URL")
    parser.add_argument("--agents", required=True, help="package.module:factory")
    parser.add_argument("--namespace", default="actorchestra", help="the team's namespace")
    parser.add_argument("--name", default="worker", help="this worker's name")
    parser.add_argument("--user", help="NATS user (the password from NATS_PASSWORD)")
    parser.add_argument("--creds", help="NATS credentials file")
    parser.add_argument("--ack-wait", type=float, default=30.0, help="seconds (redelivery)")
    parser.add_argument("--max-in-flight", type=int, default=64, help="attempts at once")
    parser.add_argument(
        "--reach",
        action="append",
        default=[],
        metavar="NAME",
        help="a name other processes serve, that these agents send to (repeatable)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    from bus import NatsTransport  # noqa: PLC0415 - needs the [nats] extra

    try:
        factory = load_factory(args.agents)
        telemetry, setup = _telemetry(args.name)
        transport = NatsTransport(
            args.nats,
            namespace=args.namespace,
            user=args.user,
            password=os.environ.get("NATS_PASSWORD") if args.user else None,
            credentials=args.creds,
            connection_name=args.name,
            ack_wait=args.ack_wait,
            max_in_flight=args.max_in_flight,
            provision=args.user is None and args.creds is None,
        )
    except ConfigurationError as exc:
        parser.error(str(exc))
    except OperationalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    worker = Worker(
        factory, transport=transport, name=args.name, telemetry=telemetry, reach=args.reach
    )
    print(f"worker {args.name}: serving {worker.agents} at {args.nats}", flush=True)
    try:
        worker.run()
    finally:
        if setup is not None:
            setup.shutdown()
    return 0


def _telemetry(name: str) -> tuple[Telemetry | None, TelemetrySetup | None]:
    """The OTLP telemetry of the ``OTEL_*`` environment, if asked for and installed."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None, None
    from actors.telemetry import setup_telemetry  # noqa: PLC0415 - the [otlp] extra

    setup = setup_telemetry(name)
    return setup.telemetry, setup


if __name__ == "__main__":
    sys.exit(main())
