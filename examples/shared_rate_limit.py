# /// script
# requires-python = ">=3.11"
# dependencies = ["actorchestra"]
# ///
"""Twenty analysts and their planner share one endpoint's rate limit: no 429.

The endpoint takes 10 requests a second and answers HTTP 429 past that. Its limit is
configured once, for its base URL, in the ``Endpoints`` that every agent and the
planner are given: each model call waits for its turn at that one shared limiter, so
the team's 21 requests (a plan, then 20 analyses at once) come in under the limit.
Model calls are not retried (``max_retries=0``), so a 429 would show as a failed
attempt. Offline (no ``OPENAI_BASE_URL``) the endpoint is a local OpenAI-compatible
server enforcing the limit; with ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` set, the
same code calls that endpoint (``--model``; ``--rpm``: its requests per minute).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from typing import Any

import openai

from actors import Endpoints, LLMAgent, Planner, RateLimit, Team
from actors.testing import EventRecorder, FakeLLMServer, Reply, ServerRateLimit
from bus import EventBus, TaskFailed

ANALYSTS = {f"analyst{i}": f"analyses market segment {i}" for i in range(20)}


def offline_responder(request: dict[str, Any]) -> Reply:
    if request.get("response_format"):  # the planner: one task per analyst
        return Reply.json({"tasks": [{"id": f"s{i}", "agent": a} for i, a in enumerate(ANALYSTS)]})
    return Reply.text("segment analysed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--model", default=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))
    parser.add_argument("--rpm", type=int, default=60, help="the endpoint's requests a minute")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if os.environ.get("OPENAI_BASE_URL"):
            client, model, limit = openai.OpenAI(), args.model, RateLimit(requests=args.rpm)
        else:
            server = stack.enter_context(
                FakeLLMServer(offline_responder, rate_limit=ServerRateLimit(10, window=1.0))
            )
            client, model, limit = server.client(), "offline", RateLimit(requests=10, window=1.0)
        started = time.monotonic()
        # The pattern: one limit per base URL, shared by every agent and the planner.
        endpoints = Endpoints(rate_limits={str(client.base_url): limit})
        bus = EventBus(tracing=False)
        failed = EventRecorder(bus, TaskFailed)
        specs = [
            LLMAgent.child_spec(name, bus, client=client, model=model, endpoints=endpoints,
                                max_retries=0)
            for name in ANALYSTS
        ]  # fmt: skip
        planner = Planner(client, model, ANALYSTS, endpoints=endpoints, max_retries=0)
        with Team(specs, bus=bus) as team:
            result = team.run(planner.plan("Analyse every market segment."), timeout=120)
        bus.stop()
    statistics = endpoints.rate_limiter(client.base_url).statistics()  # type: ignore[union-attr]
    rate_limited = sum("HTTP 429" in e.message for e in failed.of_type(TaskFailed))
    print(f"requests made: {statistics.requests}")
    print(f"429s seen: {rate_limited}")
    print(f"waited for turns: {statistics.waited:.1f} s in all")
    print(f"time: {time.monotonic() - started:.1f} s, tasks {result.status.value}")


if __name__ == "__main__":
    main()
