"""An agent's offer for a contract-net call (what :meth:`Agent.bid` returns)."""

from __future__ import annotations

from dataclasses import dataclass

from bus import Bid, CallForProposals

__all__ = ["Offer", "answer"]


@dataclass(frozen=True, slots=True)
class Offer:
    """What an agent offers for a task attempt; the orchestrator's scoring rule ranks it.

    Attributes:
        cost: What it would cost, in the team's unit (the lowest wins by default).
        duration: Seconds it expects to take.
        confidence: How sure it is it can do it, 0 to 1.
        note: A word on the offer (it travels in the bid's ``reason``).
    """

    cost: float
    duration: float = 0.0
    confidence: float = 1.0
    note: str = ""


def answer(agent: str, cfp: CallForProposals, offer: Offer | None) -> Bid:
    """The bid answering ``cfp`` for ``agent``: ``offer``, or declined if ``None``."""
    envelope = {
        "source": agent,
        "workflow_id": cfp.workflow_id,
        "task_id": cfp.task_id,
        "attempt": cfp.attempt,
        "causation_id": cfp.id,
        "agent": agent,
        "cfp_id": cfp.cfp_id,
    }
    if offer is None:
        return Bid(**envelope, declined=True, reason="does not bid")
    return Bid(
        **envelope,
        cost=offer.cost,
        duration=offer.duration,
        confidence=offer.confidence,
        reason=offer.note,
    )
