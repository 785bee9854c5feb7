"""Retention in the JetStream event log: purging what a policy no longer keeps.

The same rules as the other logs (see :class:`memory.Retention`), on the stream: a
dropped workflow's subjects are purged (``<namespace>.log.<token>.>``), old events
outside any workflow too, and the oldest of them past ``max_loose_events`` (NATS docs,
"JetStream", stream purge with a subject filter, an upper sequence, or ``keep``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from bus.lowlevel import token
from memory._event_log import Retention, WorkflowInfo

from ._log_records import LogSubjects
from ._stream_reads import read_stream

if TYPE_CHECKING:
    from nats.js import JetStreamContext

__all__ = ["purge_retained"]


async def purge_retained(
    js: JetStreamContext,
    log: LogSubjects,
    policy: Retention,
    now: float,
    workflows: list[WorkflowInfo],
) -> int:
    """Purge what ``policy`` no longer keeps at ``now`` (seconds since the epoch).

    Args:
        js: The JetStream context (call in its event loop).
        log: The log's stream and subjects.
        policy: What to keep.
        now: Seconds since the epoch.
        workflows: The workflows the log holds now (see :meth:`EventLog.workflows`).

    Returns:
        How many events (messages) were purged.
    """
    info = await js.stream_info(log.stream, subjects_filter=log.all)
    counts: dict[str, int] = {}  # workflow token -> messages
    subjects: dict[str, list[str]] = {}
    for subject, count in (info.state.subjects or {}).items():
        workflow = log.workflow_token(subject)
        counts[workflow] = counts.get(workflow, 0) + count
        subjects.setdefault(workflow, []).append(subject)
    doomed = {token(w) for w in _dropped(workflows, policy, now)}
    if policy.max_age is not None:  # workflows never started here, idle too long
        for workflow in counts.keys() - {token(w.id) for w in workflows} - {token("")}:
            newest = max([await _last_time(js, log.stream, s) for s in subjects[workflow]])
            if newest < now - policy.max_age:
                doomed.add(workflow)
    removed = 0
    for workflow in doomed & counts.keys():
        await js.purge_stream(log.stream, subject=f"{log.prefix}{workflow}.>")
        removed += counts[workflow]
    loose = counts.get(token(""), 0)
    if policy.max_age is not None and loose:
        old = await _purge_older(js, log, now - policy.max_age)
        removed, loose = removed + old, loose - old
    if loose > policy.max_loose_events:
        # keep=0 is left out of the request by nats-py: then every loose event goes.
        await js.purge_stream(log.stream, subject=log.loose, keep=policy.max_loose_events)
        removed += loose - policy.max_loose_events
    return removed


def _dropped(workflows: list[WorkflowInfo], policy: Retention, now: float) -> set[str]:
    """The finished workflows ``policy`` drops: past ``max_workflows``, or too old."""
    done = sorted(
        (w for w in workflows if w.finished_at is not None),
        key=lambda w: w.finished_at or 0.0,
        reverse=True,
    )
    return {
        w.id
        for i, w in enumerate(done)
        if (policy.max_workflows is not None and i >= policy.max_workflows)
        or (policy.max_age is not None and (w.finished_at or 0.0) < now - policy.max_age)
    }


def _event_time(payload: bytes | None) -> float:
    """The ``time`` of a stored CloudEvent, seconds since the epoch (0 if it has none)."""
    try:
        return datetime.fromisoformat(json.loads(payload or b"{}")["time"]).timestamp()
    except (ValueError, KeyError, TypeError):
        return 0.0


async def _last_time(js: JetStreamContext, stream: str, subject: str) -> float:
    return _event_time((await js.get_last_msg(stream, subject)).data)


async def _purge_older(js: JetStreamContext, log: LogSubjects, cutoff: float) -> int:
    """Purge the events outside any workflow older than ``cutoff``; how many."""
    messages = await read_stream(js, log.stream, [log.loose])
    old = [m.metadata.sequence.stream for m in messages if _event_time(m.data) < cutoff]
    if not old:
        return 0
    first_kept = next(
        (m.metadata.sequence.stream for m in messages if _event_time(m.data) >= cutoff), None
    )
    if first_kept is None:
        await js.purge_stream(log.stream, subject=log.loose)
    elif max(old) < first_kept:  # the usual case: a prefix
        await js.purge_stream(log.stream, subject=log.loose, seq=first_kept)
    else:
        for seq in old:
            await js.delete_msg(log.stream, seq)
    return len(old)
