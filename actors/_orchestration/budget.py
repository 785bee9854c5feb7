"""A workflow's budget: the tokens or dollars it may spend before it is stopped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from actors._errors import ConfigurationError
from bus import TokenUsage

from .prices import Prices

__all__ = ["Budget"]


@dataclass(frozen=True, slots=True)
class Budget:
    """The most one workflow may spend, in tokens, dollars or both (``None``: no bound).

    The orchestrator adds up each outcome's tokens as it arrives (the planner's too,
    when given with ``Team.run(..., planning=planner.spent)``) and prices them with the
    team's :class:`Prices`. When the spend passes a bound the workflow stops: its
    unfinished tasks are cancelled, attempts in flight are asked to stop, and its future
    raises :class:`actors.BudgetExceeded` with the result (what was spent, on what, and
    what did not run). Spend is known only when attempts end, so a workflow may pass
    its budget by what its attempts in flight spend. Under a ``dollars`` bound, tokens
    spent on a model with no price stop the workflow too: that budget cannot be kept.

    Attributes:
        tokens: Most input plus output tokens.
        dollars: Most US dollars, at the team's prices.

    Raises:
        ConfigurationError: A bound is not > 0.

    Example:
        >>> Budget(tokens=10_000).exceeded({"m": TokenUsage(input_tokens=20_000)}, Prices())
        'spent 20000 tokens, over its budget of 10000 tokens'
    """

    tokens: int | None = None
    dollars: float | None = None

    def __post_init__(self) -> None:
        if (self.tokens is not None and self.tokens <= 0) or (
            self.dollars is not None and not self.dollars > 0
        ):
            msg = f"{self!r} is invalid; tokens and dollars must be > 0 or None."
            raise ConfigurationError(msg)

    def exceeded(self, spent: Mapping[str, TokenUsage], prices: Prices) -> str:
        """Why ``spent`` (tokens by model) breaks this budget; ``""`` if it does not."""
        if self.tokens is not None:
            tokens = sum(u.total_tokens for u in spent.values())
            if tokens > self.tokens:
                return f"spent {tokens} tokens, over its budget of {self.tokens} tokens"
        if self.dollars is not None:
            unpriced = prices.unpriced(spent)
            if unpriced:
                return (
                    f"spent tokens on models with no price ({', '.join(map(repr, unpriced))}), "
                    f"so its budget of ${self.dollars:g} cannot be kept; add them to Prices"
                )
            dollars = prices.cost(spent) or 0.0
            if dollars > self.dollars:
                return f"spent ${dollars:.6f}, over its budget of ${self.dollars:g}"
        return ""
