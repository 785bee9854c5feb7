"""Contract-net events (FIPA Contract Net): a call for proposals, bids, the award.

The orchestrator announces a task attempt to each agent that could run it
(:class:`CallForProposals`, addressed to the agent); each answers with a :class:`Bid`
(an offer, or declined) within the call's deadline; the orchestrator makes one
:class:`Award` per attempt, by its scoring rule, naming the winner and the losers, and
then sends the attempt to the winner (``TaskStarted``).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ._event import Event

__all__ = ["Award", "Bid", "CallForProposals"]


class CallForProposals(Event):
    """The orchestrator asks ``agent`` to bid for a task attempt (addressed to ``agent``).

    Its ``workflow_id``, ``task_id`` and ``attempt`` name the attempt. Agents answer it
    from their mailbox (:meth:`actors.Agent.bid`), so a busy agent answers late.

    Fields:
        agent: The candidate asked.
        cfp_id: The call's id, the same in every candidate's copy; a bid names it.
        description: The task, in words.
        deadline: Seconds the orchestrator waits for bids, from when it sent the call.
        candidates: How many agents were asked.
        load: The agent's attempts in flight, as the orchestrator counts them.
    """

    recipient_field: ClassVar[str | None] = "agent"
    dead_letter_if_unrouted: ClassVar[bool] = False  # an agent not there does not bid

    type: Literal["task.call_for_proposals"] = "task.call_for_proposals"
    agent: str = Field(min_length=1)
    cfp_id: str = Field(min_length=1)
    description: str = ""
    deadline: float = Field(gt=0)
    candidates: int = Field(default=1, ge=1)
    load: int = Field(default=0, ge=0)


class Bid(Event):
    """An agent's answer to a :class:`CallForProposals`: an offer, or declined.

    Fields:
        agent: The bidder.
        cfp_id: The call it answers.
        cost: What the attempt would cost, in the team's unit (lower wins by default).
        duration: Seconds the agent expects it to take.
        confidence: How sure the agent is it can do it, 0 to 1.
        declined: True if the agent does not bid (then the numbers mean nothing).
        reason: Why it declined, or a note on its offer.
    """

    sender_field: ClassVar[str] = "agent"

    type: Literal["task.bid"] = "task.bid"
    agent: str = Field(min_length=1)
    cfp_id: str = Field(min_length=1)
    cost: float = 0.0
    duration: float = Field(default=0.0, ge=0)
    confidence: float = Field(default=1.0, ge=0, le=1)
    declined: bool = False
    reason: str = ""


class Award(Event):
    """The orchestrator awarded a task attempt: at most one per call (and per attempt).

    Fields:
        cfp_id: The call it closes.
        winner: The agent that gets the attempt.
        losers: The other candidates (those that bid, declined, or did not answer).
        score: The winning bid's score (``None`` for a fallback).
        bids: Offers received in time (declines not counted).
        fallback: True if no offer came in time: the winner is the least-loaded candidate.
    """

    type: Literal["task.award"] = "task.award"
    cfp_id: str = Field(min_length=1)
    winner: str = Field(min_length=1)
    losers: list[str] = Field(default_factory=list)
    score: float | None = None
    bids: int = Field(default=0, ge=0)
    fallback: bool = False
