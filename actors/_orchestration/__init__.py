"""Orchestration: plans, the orchestrator actor, its workflows' state, and the team.

The orchestrator is a message router over state transitions: dispatch (the ready heap
and the per-agent waiting room), retries and timers, approvals, handoffs, resume and
identity (attempt tokens, rejected forgeries) each live in a module of their own. This
floor may import ``_supervision`` (the team's tree), the actor core (``actors._actor``,
``_timers``, ``_backoff``, ``_json_value``, ``_metrics``, ``_errors``), ``bus`` and
``memory``; never ``_agents`` (agents are reached by bus events) or ``testing``.
"""
