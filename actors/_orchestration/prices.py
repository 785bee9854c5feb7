"""What tokens cost: a price per model, and the dollars a workflow's tokens come to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from actors._errors import ConfigurationError
from bus import TokenUsage

__all__ = ["DEFAULT_PRICES", "ModelPrice", "Prices"]


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's prices, in US dollars per million tokens.

    Attributes:
        input: Per million input (prompt) tokens.
        output: Per million output tokens (reasoning tokens included, as billed).
        cached_input: Per million input tokens read from the prompt cache; ``None``
            bills them as ``input``.

    Raises:
        ConfigurationError: A price is negative.

    Example:
        >>> ModelPrice(input=0.15, cached_input=0.075, output=0.60).cost(
        ...     TokenUsage(input_tokens=1_000_000, output_tokens=1_000_000)
        ... )
        0.75
    """

    input: float
    output: float
    cached_input: float | None = None

    def __post_init__(self) -> None:
        prices = (self.input, self.output, self.cached_input or 0.0)
        if min(prices) < 0:
            msg = f"{self!r} has a negative price; prices are dollars per million tokens, >= 0."
            raise ConfigurationError(msg)

    def cost(self, usage: TokenUsage) -> float:
        """Dollars ``usage`` costs at these prices."""
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        cached_price = self.input if self.cached_input is None else self.cached_input
        dollars = (
            (usage.input_tokens - cached) * self.input
            + cached * cached_price
            + usage.output_tokens * self.output
        )
        return dollars / 1_000_000


class Prices:
    """Prices by model name, to turn token usage into dollars.

    Names are matched exactly, as the agent sends them to the server (``LLMAgent(model=
    ...)``): a model the table does not name has no known cost (``None``), never a
    guessed one. Start from :data:`DEFAULT_PRICES` and add or change entries with
    :meth:`with_prices` (or build your own table), and give it to
    ``Team(prices=...)``.

    Args:
        prices: Model name → its price.

    Example:
        >>> table = Prices({"m": ModelPrice(input=1.0, output=2.0)})
        >>> table.cost({"m": TokenUsage(input_tokens=500_000, output_tokens=250_000)})
        1.0
        >>> table.cost({"other": TokenUsage(input_tokens=1)}) is None
        True
    """

    def __init__(self, prices: Mapping[str, ModelPrice] | None = None) -> None:
        self._prices = dict(prices or {})

    def __repr__(self) -> str:
        return f"Prices({self._prices!r})"

    def __getitem__(self, model: str) -> ModelPrice:
        return self._prices[model]

    def __contains__(self, model: object) -> bool:
        return model in self._prices

    def models(self) -> list[str]:
        """The models priced, sorted."""
        return sorted(self._prices)

    def with_prices(self, prices: Mapping[str, ModelPrice]) -> Prices:
        """A table with ``prices`` added to (or replacing) these entries."""
        return Prices({**self._prices, **prices})

    def cost(self, usage_by_model: Mapping[str, TokenUsage]) -> float | None:
        """Dollars the tokens cost, ``None`` if any were spent on a model not priced.

        Tokens of model ``""`` (not known) have no price; an entry with no tokens costs 0
        whatever its model.
        """
        total = 0.0
        for model, usage in usage_by_model.items():
            if not usage.total_tokens:
                continue
            price = self._prices.get(model)
            if price is None:
                return None
            total += price.cost(usage)
        return total

    def unpriced(self, usage_by_model: Mapping[str, TokenUsage]) -> list[str]:
        """The models tokens were spent on that have no price here, sorted."""
        return sorted(m for m, u in usage_by_model.items() if u.total_tokens and m not in self)


# US dollars per million tokens, standard (not batch) tier, from the vendors' pricing
# pages (https://platform.openai.com/docs/pricing, https://www.anthropic.com/pricing)
# as of August 2025. Prices change: check them, and pass your own (Team(prices=...)).
DEFAULT_PRICES = Prices(
    {
        "gpt-5": ModelPrice(input=1.25, cached_input=0.125, output=10.00),
        "gpt-5-mini": ModelPrice(input=0.25, cached_input=0.025, output=2.00),
        "gpt-5-nano": ModelPrice(input=0.05, cached_input=0.005, output=0.40),
        "gpt-4.1": ModelPrice(input=2.00, cached_input=0.50, output=8.00),
        "gpt-4.1-mini": ModelPrice(input=0.40, cached_input=0.10, output=1.60),
        "gpt-4.1-nano": ModelPrice(input=0.10, cached_input=0.025, output=0.40),
        "gpt-4o": ModelPrice(input=2.50, cached_input=1.25, output=10.00),
        "gpt-4o-mini": ModelPrice(input=0.15, cached_input=0.075, output=0.60),
        "o3": ModelPrice(input=2.00, cached_input=0.50, output=8.00),
        "o4-mini": ModelPrice(input=1.10, cached_input=0.275, output=4.40),
        "claude-opus-4-1": ModelPrice(input=15.00, cached_input=1.50, output=75.00),
        "claude-sonnet-4-0": ModelPrice(input=3.00, cached_input=0.30, output=15.00),
        "claude-3-5-haiku-latest": ModelPrice(input=0.80, cached_input=0.08, output=4.00),
    }
)
"""Prices of well-known models (US dollars per million tokens; see :class:`Prices`).

Standard tier, from https://platform.openai.com/docs/pricing and
https://www.anthropic.com/pricing as of August 2025 (Anthropic's ``cached_input`` is its
cache-read price). They go out of date: extend or override them with
``DEFAULT_PRICES.with_prices({...})``; other models have no known cost.
"""
