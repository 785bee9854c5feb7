"""Tools for a server that refuses them: offered in the prompt, called in JSON text."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from openai.types.chat import ChatCompletionMessage

__all__ = ["calls_in_text", "tools_in_prompt", "with_system_note"]

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def with_system_note(messages: list[dict[str, Any]], note: str) -> list[dict[str, Any]]:
    """``messages`` with ``note`` added to the first system message (or one put first).

    Some chat templates (llama.cpp's) accept a system message only at the start.
    """
    if messages and messages[0].get("role") == "system":
        first = {**messages[0], "content": f"{messages[0].get('content') or ''}\n\n{note}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]


def tools_in_prompt(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``messages`` for a server without tool calls: the tools described, calls as text.

    The system message lists the tools (name, description, JSON schema of the
    arguments) and asks for ``{"tool_calls": [{"name": ..., "arguments": {...}}]}`` to
    call them; earlier assistant tool calls become that JSON text, and tool results
    user messages naming the call, so no message has a field such a server refuses.
    """
    listed = [
        {
            "name": t["function"]["name"],
            "description": t["function"].get("description", ""),
            "parameters": t["function"].get("parameters", {}),
        }
        for t in tools
        if t.get("type") == "function"
    ]
    note = (
        "You can call tools. To call one or more, reply with only a JSON object "
        '{"tool_calls": [{"name": "<tool name>", "arguments": {...}}]} and nothing else; '
        "their results come back in the next message. When you need no tool, answer as "
        f"asked.\nThe tools (JSON):\n{json.dumps(listed, separators=(',', ':'))}"
    )
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in messages:
        calls = message.get("tool_calls")
        if message.get("role") == "assistant" and calls:
            wanted = []
            for call in calls:
                function = call.get("function") or {}
                names[call.get("id", "")] = function.get("name", "")
                try:
                    arguments = json.loads(function.get("arguments") or "{}")
                except json.JSONDecodeError:
                    arguments = function.get("arguments")
                wanted.append({"name": function.get("name", ""), "arguments": arguments})
            out.append({"role": "assistant", "content": json.dumps({"tool_calls": wanted})})
        elif message.get("role") == "tool":
            call_id = message.get("tool_call_id", "")
            name = names.get(call_id, "?")
            out.append(
                {"role": "user", "content": f"Result of tool {name!r}: {message.get('content')}"}
            )
        else:
            out.append(message)
    return with_system_note(out, note)


def calls_in_text(message: ChatCompletionMessage) -> ChatCompletionMessage:
    """``message`` with the tool calls its text asks for (see :func:`tools_in_prompt`).

    A text that is (or is fenced as) a JSON object with a ``tool_calls`` list of
    ``{"name", "arguments"}`` becomes a message calling those tools (ids made here);
    any other text is the model's answer, returned as it is.
    """
    text = (message.content or "").strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return message
    wanted = value.get("tool_calls") if isinstance(value, dict) else None
    if not isinstance(wanted, list) or not wanted:
        return message
    calls = []
    for call in wanted:
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            return message
        arguments = call.get("arguments", {})
        calls.append(
            {
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
        )
    return ChatCompletionMessage.model_validate(
        {"role": "assistant", "content": None, "tool_calls": calls}
    )
