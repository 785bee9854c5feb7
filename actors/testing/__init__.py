"""Tools for testing agents and protocols: a local LLM server and an event recorder.

* :class:`FakeLLMServer` — an OpenAI-compatible HTTP server on 127.0.0.1 with scripted
  replies, so tests (and the offline examples) use the real ``openai`` client over real
  HTTP without a paid endpoint; it streams (SSE), lists its model (``/v1/models``), and
  can act like a server that takes less (:meth:`FakeLLMServer.llama_cpp_like`).
* :class:`EventRecorder` — captures every event of a run.
* :func:`check_protocol` — checks a recorded run against the protocol invariants.
* :class:`FaultyAgent` and :class:`Faults` — seeded fault injection into agents.
* :func:`plans` — a Hypothesis strategy of valid random plans (DAGs).
* :class:`LLMFaults` — injects LLM faults (429, 500, slow, dropped, malformed tool
  arguments, schema-breaking output, unknown tools) into the local server's replies.

This public package is the top floor: it may import anything in ``actors``, ``bus`` and
``memory``, and nothing there imports it (so ``import actors`` loads no Hypothesis).
"""

from typing import TYPE_CHECKING

from .faults import Faults as Faults
from .faults import FaultyAgent as FaultyAgent
from .llm_faults import LLMFaults as LLMFaults
from .llm_server import FakeLLMServer as FakeLLMServer
from .llm_server import Reply as Reply
from .llm_server import Responder as Responder
from .llm_server import tool_names as tool_names
from .protocol import ProtocolViolation as ProtocolViolation
from .protocol import check_protocol as check_protocol
from .recorder import EventRecorder as EventRecorder

__all__ = [
    "EventRecorder",
    "FakeLLMServer",
    "Faults",
    "FaultyAgent",
    "LLMFaults",
    "ProtocolViolation",
    "Reply",
    "Responder",
    "check_protocol",
    "plans",
    "tool_names",
]

if TYPE_CHECKING:
    from .plans import plans as plans


def __getattr__(name: str) -> object:
    # plans() needs Hypothesis (the [testing] extra); the rest of the kit does not.
    if name != "plans":
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    from .plans import plans  # noqa: PLC0415

    globals()["plans"] = plans
    return plans
