# /// script
# requires-python = ">=3.11"
# dependencies = ["actorchestra"]
# ///
"""Redundancy: three readers vote on a contract's notice period; two deployments race.

A vote: the notice-period task runs on three readers at once (one model each), and the
answer most of them give is the task's result; one model misreads the clause and is
outvoted. A race: the summary runs on a slow and a fast deployment at once; the first
answer completes the task and the slow model call is cancelled at once. Each side
effect (here, filing the result) runs once per task, however many replicas ran it.
Offline (no ``OPENAI_BASE_URL``) the models are a local OpenAI-compatible server; with
``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` set, ``--model`` serves every replica
(sampled with a different seed each).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from typing import Any

import openai

from actors import LLMAgent, ModelSettings, Plan, Redundancy, Task, Team
from actors.testing import EventRecorder, FakeLLMServer, Reply
from bus import CancelRequested, EventBus, TaskCompleted

CLAUSE = (
    "12.3 Either party may terminate this agreement by giving the other party not less "
    "than ninety (90) days' written notice; notices under clause 4 take thirty (30) days."
)
READERS = {"reader-a": "model-a", "reader-b": "model-b", "reader-c": "model-c"}
DRAFTERS = {"primary": "slow-model", "backup": "fast-model"}


def offline_responder(request: dict[str, Any]) -> Reply:
    model = request["model"]
    if model == "model-b":
        return Reply.text("30 days")  # misreads the clause
    if model in READERS.values():
        return Reply.text("90 days")
    delay = 5.0 if model == "slow-model" else 0.05
    return Reply(content="Either party may end it on 90 days' notice.", delay=delay)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--model", default=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if os.environ.get("OPENAI_BASE_URL"):
            client, models = openai.OpenAI(), dict.fromkeys([*READERS, *DRAFTERS], args.model)
        else:
            server = stack.enter_context(FakeLLMServer(offline_responder))
            client, models = server.client(), READERS | DRAFTERS
        bus = EventBus(tracing=False)
        rec = EventRecorder(bus)
        instructions = "Answer with the notice period for termination only, e.g. '14 days'."
        specs = [
            LLMAgent.child_spec(
                name, bus, client=client, model=models[name], capabilities=[role],
                system_prompt=instructions if role == "reader" else "Summarise in one line.",
                settings=ModelSettings(seed=i, max_tokens=60),
            )
            for i, (name, role) in enumerate(
                [(r, "reader") for r in READERS] + [(d, "drafter") for d in DRAFTERS]
            )
        ]  # fmt: skip
        # The pattern: a vote of three readers, and a race of two drafters.
        plan = Plan(
            tasks=[
                Task(id="notice", agent="reader", description=CLAUSE,
                     redundancy=Redundancy(copies=3, decide="vote")),
                Task(id="summary", agent="drafter", description=CLAUSE,
                     redundancy=Redundancy(copies=2)),
            ]
        )  # fmt: skip
        started = time.monotonic()
        with Team(specs, bus=bus) as team:
            result = team.run(plan, timeout=120)
        elapsed = time.monotonic() - started
        bus.stop()
    votes = [e for e in rec.of_type(TaskCompleted) if e.task_id == "notice"]
    notice, summary = result.tasks
    print(f"notice period: {notice.result} (decided by a vote, result from {notice.agent})")
    for vote in sorted(votes, key=lambda e: e.agent):
        print(f"  {vote.agent}: {vote.result}")
    cancelled = [e.agent for e in rec.of_type(CancelRequested) if e.task_id == "summary"]
    print(f"summary: {summary.result} (first answer, from {summary.agent})")
    print(f"  cancelled: {', '.join(cancelled) or 'none'}; the run took {elapsed:.1f} s")
    print(f"tokens: {result.usage.total_tokens} (every replica's); workflow {result.status.value}")


if __name__ == "__main__":
    main()
