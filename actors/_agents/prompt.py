"""What an LLM agent sends: the task as a user message, its tool calls echoed back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pydantic
from openai.types.chat import ChatCompletionMessage

from memory import Record

from .task_context import TaskContext

__all__ = ["echo_tool_calls", "task_prompt"]


def task_prompt(
    task: TaskContext,
    facts: Sequence[Record] = (),
    context_type: type[pydantic.BaseModel] | None = None,
) -> str:
    """The user message: description, facts, dependency results and missing ones, context.

    Handed-over context is introduced by who handed it over and why, and named by
    ``context_type`` when given.
    """
    parts = [f"Task {task.task_id}: {task.description}"]
    if facts:
        recalled = [{"about": f.key, "fact": f.value} for f in facts]
        parts.append(
            "Facts you recorded in earlier workflows, best match first (JSON):\n"
            + json.dumps(recalled, ensure_ascii=False)
        )
    if task.inputs:
        parts.append("Results of the tasks this one depends on (JSON):\n" + json.dumps(task.inputs))
    if task.missing:
        parts.append(
            "Results missing (optional tasks that did not complete; work without them, "
            "and say what is missing) (JSON):\n" + json.dumps(task.missing)
        )
    if task.handed_over_by:
        reason = f" because: {task.handoff_reason}" if task.handoff_reason else ""
        parts.append(f"Agent {task.handed_over_by!r} handed this task over to you{reason}")
    context = task.handed_over()
    if context:
        kind = f" ({context_type.__name__})" if context_type is not None else ""
        parts.append(f"Context handed over to you{kind} (JSON):\n" + json.dumps(context))
    return "\n\n".join(parts)


def echo_tool_calls(message: ChatCompletionMessage) -> dict[str, Any]:
    """The assistant message that called tools, as it goes back in the history.

    In the plain wire shape of OpenAI's API reference: ``role``, ``content`` (always
    present: the text, or ``""`` when there was none, since chat templates such as
    llama.cpp's read it unconditionally) and ``tool_calls`` with only ``id``, ``type``
    and ``function`` (``name``, ``arguments``); fields a server added to its response
    (``reasoning_content``, ``refusal``, ``annotations``, ...) are left out, since some
    servers refuse messages with fields they do not know.
    """
    calls: list[dict[str, Any]] = []
    for call in message.tool_calls or ():
        function = getattr(call, "function", None)
        if call.type != "function" or function is None:  # e.g. a custom tool's call
            calls.append(call.model_dump(mode="json", exclude_none=True))
            continue
        calls.append(
            {
                "id": call.id,
                "type": call.type,
                "function": {"name": function.name, "arguments": function.arguments},
            }
        )
    return {"role": "assistant", "content": message.content or "", "tool_calls": calls}
