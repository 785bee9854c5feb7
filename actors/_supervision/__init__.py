"""Supervision: supervisors, dynamic supervisors, child specs and restart strategies.

Erlang/OTP's ``supervisor`` behaviour, rule by rule, over Pykka actors. This floor
may import the actor core (``actors._actor``, ``_link``, ``_timers``, ``_backoff``,
``_metrics``, ``_errors``), ``bus`` and ``memory``; never ``_agents``, ``_orchestration`` or
``testing``, which are built on it.
"""
