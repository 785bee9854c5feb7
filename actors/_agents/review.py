"""What a review loop's agents hand each other and end with: the round, verdict, result."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue

__all__ = ["Review", "ReviewResult", "ReviewRound"]


class Review(BaseModel):
    """A reviewer's verdict on one draft (an LLM reviewer's structured output).

    Attributes:
        approved: Whether the draft is done.
        feedback: What the writer should change (why it passes, when approved).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    approved: bool = Field(description="True if the draft can go out as it is.")
    feedback: str = Field(default="", description="What the writer must change, concretely.")


class ReviewRound(BaseModel):
    """Where a review loop stands: the context its writer and reviewer are handed.

    Read it in a handler with ``task.handed_over(ReviewRound)``; an :class:`LLMAgent`
    writer or reviewer gets it in its prompt as JSON.

    Attributes:
        round: This round, from 1.
        max_rounds: The loop's cap (:attr:`ReviewLoop.max_rounds`).
        last_round: ``round == max_rounds``: the reviewer's verdict on this round's draft
            is final, approved or not.
        draft: The latest draft: for the writer, the one to revise (``None`` in round 1);
            for the reviewer, the one to review.
        feedback: The reviewer's feedback on the previous draft (``""`` in round 1).
    """

    model_config = ConfigDict(frozen=True)

    round: int = Field(ge=1)
    max_rounds: int = Field(ge=1)
    last_round: bool = False
    draft: JsonValue = None
    feedback: str = ""


class ReviewResult(BaseModel):
    """What the task of a review loop completes with: the last draft and its verdict.

    Attributes:
        draft: The last draft.
        approved: Whether the reviewer approved it; ``False`` when the loop reached
            :attr:`ReviewLoop.max_rounds` without approval.
        rounds: Rounds run (drafts written), from 1 to ``max_rounds``.
        feedback: The reviewer's last feedback.

    Example:
        >>> ReviewResult.model_validate({"draft": "d", "approved": False, "rounds": 3,
        ...     "feedback": "too long"}).approved
        False
    """

    model_config = ConfigDict(frozen=True)

    draft: JsonValue
    approved: bool
    rounds: int
    feedback: str = ""
