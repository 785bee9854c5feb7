"""Agents: the task-running actor, the LLM agent, its tools, chat calls and the planner.

This floor may import ``_orchestration`` (a plan's types), ``_supervision`` (child
specs), the actor core (``actors._actor``, ``_json_value``,
``_metrics``, ``_errors``), ``bus`` and ``memory``; never ``testing``. Nothing below it
imports it: the orchestrator talks to agents through bus events only.
"""
