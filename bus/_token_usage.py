"""TokenUsage: the tokens model calls spent, as task events and results report them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TokenUsage"]


class TokenUsage(BaseModel):
    """Tokens spent on model calls (counts, as reported by the model's ``usage``).

    Attributes:
        input_tokens: Prompt tokens, cached ones included.
        output_tokens: Completion tokens, reasoning ones included.
        cached_input_tokens: Of ``input_tokens``, those read from the provider's prompt
            cache (billed at the cached-input price); 0 when the server does not say.
        reasoning_tokens: Of ``output_tokens``, those spent on hidden reasoning (billed
            as output); 0 when the server does not say.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cached_input_tokens: int = Field(default=0, ge=0)
    reasoning_tokens: int = Field(default=0, ge=0)

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        if not (other.input_tokens or other.output_tokens):
            return self  # frozen, so sharing is safe; saves a validation per hop
        if not (self.input_tokens or self.output_tokens):
            return other
        return TokenUsage.model_construct(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
        )
