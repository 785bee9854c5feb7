"""Tools for testing agents and protocols: a local LLM server and an event recorder.

* :class:`FakeLLMServer` — an OpenAI-compatible HTTP server on 127.0.0.1 with scripted
  replies, so tests (and the offline examples) use the real ``openai`` client over real
  HTTP without a paid endpoint.
* :class:`EventRecorder` — captures every event of a run.
* :func:`check_protocol` — checks a recorded run against the protocol invariants.
* :class:`FaultyAgent` and :class:`Faults` — seeded fault injection into agents.
* :func:`plans` — a Hypothesis strategy of valid random plans (DAGs).
* :class:`LLMFaults` — injects LLM faults (429, 500, slow, dropped, malformed tool
  arguments, schema-breaking output, unknown tools) into the local server's replies.
"""

from ._fake_llm import FakeLLMServer as FakeLLMServer
from ._fake_llm import Reply as Reply
from ._fake_llm import Responder as Responder
from ._fake_llm import tool_names as tool_names
from ._faults import Faults as Faults
from ._faults import FaultyAgent as FaultyAgent
from ._llm_faults import LLMFaults as LLMFaults
from ._protocol import ProtocolViolation as ProtocolViolation
from ._protocol import check_protocol as check_protocol
from ._recorder import EventRecorder as EventRecorder
from ._strategies import plans as plans

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
