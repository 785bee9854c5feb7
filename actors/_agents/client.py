"""The model client: ``openai.OpenAI`` or ``AsyncOpenAI``, with a bound on its retries."""

from __future__ import annotations

import openai

from actors._errors import ConfigurationError

__all__ = ["Client", "sync_client", "with_retries"]

Client = openai.OpenAI | openai.AsyncOpenAI
"""What agents and the planner call a model with: ``openai.OpenAI`` or ``AsyncOpenAI``."""

_GENERATED_HEADERS = frozenset({"accept", "content-type", "user-agent"})


def sync_client(client: Client) -> openai.OpenAI:
    """``client``, or for an ``AsyncOpenAI`` one, a synchronous twin of it.

    An agent calls its model from its own actor thread, where no event loop runs (and
    the application's loop must not be used from there), so an ``AsyncOpenAI`` client is
    called through an ``openai.OpenAI`` with the same key, organization, project, base
    URL, timeout, retries and custom headers (the headers the client makes itself are
    made again).
    """
    if not isinstance(client, openai.AsyncOpenAI):
        return client
    headers = {
        name: value
        for name, value in client.default_headers.items()
        if isinstance(value, str)
        and name.lower() not in _GENERATED_HEADERS
        and not name.lower().startswith("x-stainless")
    }
    return openai.OpenAI(
        api_key=client.api_key,
        organization=client.organization,
        project=client.project,
        base_url=client.base_url,
        timeout=client.timeout,
        max_retries=client.max_retries,
        default_headers=headers,
    )


def with_retries(client: Client, max_retries: int | None) -> openai.OpenAI:
    """``client`` retrying each call at most ``max_retries`` times (``None``: as it is).

    Uses the client's public ``with_options``, so the caller's client is not changed;
    an ``AsyncOpenAI`` client is called through its synchronous twin (:func:`sync_client`).

    Raises:
        ConfigurationError: ``max_retries`` is negative.
    """
    client = sync_client(client)
    if max_retries is None:
        return client
    if max_retries < 0:
        msg = f"max_retries must be >= 0 or None, got {max_retries}."
        raise ConfigurationError(msg)
    return client.with_options(max_retries=max_retries)
