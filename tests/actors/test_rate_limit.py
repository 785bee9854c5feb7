"""The rate limiter alone: tokens estimated then corrected, headers, bounds, config."""

from __future__ import annotations

import pytest

from actors import Cancellation, ConfigurationError, RateLimit, RateLimiter, TaskCancelled
from actors._agents.rate_limit import estimate_tokens, parse_reset


def test_tokens_are_charged_as_estimated_and_corrected_by_the_usage() -> None:
    limiter = RateLimiter(RateLimit(tokens=100, window=0.3))
    first, waited = limiter.acquire(80)
    assert waited == 0.0
    limiter.answered(first, 10)  # it used 10, not the 80 estimated
    second, waited = limiter.acquire(80)  # 10 + 80 fit at once
    assert waited == 0.0
    limiter.answered(second, 80)
    third, waited = limiter.acquire(80)  # 10 + 80 + 80 do not: wait for the window
    assert waited > 0.0
    limiter.answered(third, None)
    assert limiter.statistics().requests == 3


def test_a_request_larger_than_the_budget_waits_for_an_empty_window() -> None:
    limiter = RateLimiter(RateLimit(tokens=10, window=0.2))
    permit, _ = limiter.acquire(5)
    limiter.answered(permit, 5)
    _, waited = limiter.acquire(1000)
    assert waited > 0.0


def test_remaining_zero_in_the_headers_holds_callers_until_the_reset() -> None:
    limiter = RateLimiter(RateLimit())
    permit, _ = limiter.acquire(1)
    headers = {
        "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "200ms",
    }
    limiter.answered(permit, 1, headers)
    permit, waited = limiter.acquire(1)
    assert waited > 0.1
    limiter.answered(permit, 1)


def test_the_wait_is_bounded_and_cancellable() -> None:
    limiter = RateLimiter(RateLimit(requests=1, window=60, max_wait=0.2))
    limiter.acquire(1)
    with pytest.raises(TimeoutError, match=r"^no turn within max_wait=0.2 s of RateLimit\("):
        limiter.acquire(1)
    cancellation = Cancellation()
    cancellation.cancel("by request")
    with pytest.raises(TaskCancelled, match=r"^attempt cancelled: by request$"):
        limiter.acquire(1, cancellation)


def test_reset_durations_and_estimates() -> None:
    assert parse_reset("6m0s") == 360.0
    assert parse_reset("1.5s") == 1.5
    assert parse_reset("20ms") == 0.02
    assert parse_reset("soon") is None
    assert estimate_tokens([], {"max_completion_tokens": 7}) == 7 + len("[]") // 4
    assert estimate_tokens([], {}) == 1000


def test_limits_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match=r"^RateLimit\(requests=0, .* has a value <= 0; "):
        RateLimit(requests=0)
