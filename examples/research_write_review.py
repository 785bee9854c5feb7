# /// script
# requires-python = ">=3.11"
# dependencies = ["actorchestra"]
# ///
"""Research, write, review: a writer revises its draft until a reviewer approves it.

    python examples/research_write_review.py [--max-rounds 3] [--spans]

A researcher collects facts (a task); the article task depends on it and runs as a
``ReviewLoop``: the writer hands each draft to the reviewer, whose verdict is a typed
``Review`` (structured output); until it approves, the reviewer hands the draft back with
its feedback, at most ``--max-rounds`` drafts. A WARNING says when the last round starts;
at the cap the task completes with ``approved=False``, the last draft and feedback.
Offline (no ``OPENAI_BASE_URL``) the three LLM agents talk to a local OpenAI-compatible
server with scripted replies (approving the third draft); with ``OPENAI_BASE_URL`` and
``OPENAI_API_KEY`` set, the same code talks to that endpoint (``--model``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from typing import Any

import openai

from actors import LLMAgent, Plan, ReviewLoop, ReviewResult, ReviewRound, Task, Team
from actors.telemetry import format_span_tree, setup_telemetry
from actors.testing import EventRecorder, FakeLLMServer, Reply
from bus import EventBus, Handoff

# --- the pattern: a researcher, then a writer and a reviewer in a bounded loop -------

RESEARCH = "List four key facts about the topic, with figures and dates, one per line."
WRITE = (
    "Write a short article (under 120 words) from the research results. When the "
    "ReviewRound context has feedback, revise its draft to address it. Reply with the "
    "article only."
)
REVIEW = (
    "Review the draft in the ReviewRound context against the research: approve it only "
    "if it is accurate, gives the capacity and the year, and is under 120 words; "
    "otherwise give one concrete fix as feedback."
)


def build_team(bus: EventBus, client: openai.OpenAI, model: str, max_rounds: int) -> Team:
    """The researcher, the writer ⇄ reviewer loop, its edges and the limits it needs."""
    llm: dict[str, Any] = {"client": client, "model": model}
    loop = ReviewLoop("writer", "reviewer", max_rounds=max_rounds)
    agents = [
        LLMAgent.child_spec("researcher", bus, system_prompt=RESEARCH, **llm),
        loop.writer_spec(bus, LLMAgent, system_prompt=WRITE, **llm),
        loop.reviewer_spec(bus, LLMAgent, system_prompt=REVIEW, **llm),
    ]
    return Team(agents, bus=bus, handoffs=loop.handoffs, limits=loop.limits())


def article_plan(topic: str) -> Plan:
    """Research the topic, then write the article (the task the loop runs)."""
    research = Task(id="research", agent="researcher", description=f"Research {topic}.")
    write = f"Write a short article about {topic}."
    article = Task(id="article", agent="writer", description=write, depends_on=("research",))
    return Plan(tasks=[research, article])


# --- offline: a scripted model ------------------------------------------------------

FACTS = "La Rance tidal plant, Brittany; 240 MW; opened 1966; about 500 GWh a year."
CHECKS = [  # what the offline reviewer asks for, in turn, and what the writer adds
    ("MW", "Give the plant's capacity in MW.", " Its 24 turbines deliver 240 MW."),
    ("1966", "Say since when it has run.", " It has run since 1966."),
]
FIRST_DRAFT = "La Rance, in Brittany, turns the tides of its estuary into electricity."


def offline_responder(request: dict[str, Any]) -> Reply:
    """Researcher: facts; writer: adds what the feedback asks; reviewer: one check a round."""
    prompt = next(m["content"] for m in request["messages"] if m["role"] == "user")
    if "(ReviewRound)" not in prompt:  # the researcher
        return Reply.text(FACTS)
    current = ReviewRound.model_validate_json(prompt.partition("(ReviewRound) (JSON):\n")[2])
    draft = str(current.draft or "")
    if "response_format" in request:  # the reviewer: a Review, as structured output
        fix = next((fix for key, fix, _ in CHECKS if key not in draft), None)
        return Reply.json({"approved": fix is None, "feedback": fix or "Accurate and short."})
    if current.round == 1:  # the writer
        return Reply.text(FIRST_DRAFT)
    return Reply.text(draft + next(add for _, fix, add in CHECKS if fix == current.feedback))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--model", default=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))
    parser.add_argument("--max-rounds", type=int, default=3, help="drafts at most (default 3)")
    parser.add_argument("--spans", action="store_true", help="print the span tree after the run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    telemetry = setup_telemetry("research_write_review", keep_in_memory=args.spans)
    with contextlib.ExitStack() as stack:
        if os.environ.get("OPENAI_BASE_URL"):
            client, model = openai.OpenAI(), args.model
        else:
            server = stack.enter_context(FakeLLMServer(offline_responder))
            client, model = server.client(), "offline-scripted"
        bus = EventBus(telemetry=telemetry.telemetry)
        handoffs = EventRecorder(bus, Handoff)
        team = stack.enter_context(build_team(bus, client, model, args.max_rounds))
        plan = article_plan("the La Rance tidal power station")
        result = team.run(plan, timeout=120, name="research_write_review")
    telemetry.shutdown()
    print(result.table())
    print()
    for h in handoffs.of_type(Handoff):
        current = ReviewRound.model_validate(h.context)
        if h.from_agent == "writer":
            print(f"round {current.round}: draft: {current.draft}")
        else:
            print(f"         revise: {current.feedback}")
    if not result.ok:
        print(f"failed: {[t.error for t in result.tasks if t.error]}")
        return 1
    outcome = ReviewResult.model_validate(result.answer)
    verdict = "approved" if outcome.approved else "NOT approved (the cap)"
    print(f"         {verdict}: {outcome.feedback}")
    print(f"\n{verdict} after {outcome.rounds} of at most {args.max_rounds} rounds:")
    print(outcome.draft)
    if telemetry.memory is not None:
        print(format_span_tree(telemetry.memory.get_finished_spans()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
