"""Tools for testing agents and protocols: a local LLM server and an event recorder.

* :class:`FakeLLMServer` — an OpenAI-compatible HTTP server on 127.0.0.1 with scripted
  replies, so tests (and the offline examples) use the real ``openai`` client over real
  HTTP without a paid endpoint.
* :class:`EventRecorder` — captures every event of a run.
"""

from ._fake_llm import FakeLLMServer as FakeLLMServer
from ._fake_llm import Reply as Reply
from ._fake_llm import Responder as Responder
from ._fake_llm import tool_names as tool_names
from ._recorder import EventRecorder as EventRecorder

__all__ = ["EventRecorder", "FakeLLMServer", "Reply", "Responder", "tool_names"]
