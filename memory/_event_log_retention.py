"""Retention in the SQLite event log: deleting the workflows and loose events a policy drops."""

from __future__ import annotations

import sqlite3

from ._event_log import Retention

__all__ = ["delete_retained"]


def delete_retained(db: sqlite3.Connection, policy: Retention, now: float) -> int:
    """Delete what ``policy`` no longer keeps at ``now``, in the transaction open on ``db``.

    A dropped workflow loses its events, its side effects' results and its record.

    Args:
        db: The writer's connection, in a transaction.
        policy: What to keep.
        now: Seconds since the epoch.

    Returns:
        How many events were deleted.
    """
    conditions: list[str] = []
    args: list[object] = []
    if policy.max_age is not None:
        conditions.append("finished_at < ?")
        args.append(now - policy.max_age)
    if policy.max_workflows is not None:
        conditions.append(
            "id NOT IN (SELECT id FROM workflows WHERE finished_at IS NOT NULL "
            "ORDER BY finished_at DESC LIMIT ?)"
        )
        args.append(policy.max_workflows)
    db.execute("CREATE TEMP TABLE IF NOT EXISTS doomed (id TEXT PRIMARY KEY)")
    db.execute("DELETE FROM doomed")
    if conditions:
        where = " OR ".join(conditions)  # literal conditions, never user text
        select = f"SELECT id FROM workflows WHERE finished_at NOT NULL AND ({where})"  # noqa: S608
        db.execute("INSERT INTO doomed " + select, args)
    if policy.max_age is not None:  # workflows never started here, idle too long
        db.execute(
            "INSERT OR IGNORE INTO doomed SELECT workflow_id FROM events "
            "WHERE workflow_id != '' AND workflow_id NOT IN (SELECT id FROM workflows) "
            "GROUP BY workflow_id HAVING MAX(time) < ?",
            (now - policy.max_age,),
        )
    removed = _delete_events(db, "workflow_id IN (SELECT id FROM doomed)", ())
    db.execute("DELETE FROM effects WHERE workflow_id IN (SELECT id FROM doomed)")
    db.execute("DELETE FROM workflows WHERE id IN (SELECT id FROM doomed)")
    if policy.max_age is not None:
        removed += _delete_events(db, "workflow_id = '' AND time < ?", (now - policy.max_age,))
    removed += _delete_events(
        db,
        "workflow_id = '' AND seq NOT IN (SELECT seq FROM events "
        "WHERE workflow_id = '' ORDER BY seq DESC LIMIT ?)",
        (policy.max_loose_events,),
    )
    return removed


def _delete_events(db: sqlite3.Connection, where: str, args: tuple[object, ...]) -> int:
    """Delete the event rows matching ``where`` (a literal condition); how many events."""
    count = db.execute(
        f"SELECT COALESCE(SUM(count), 0) FROM events WHERE {where}",  # noqa: S608
        args,
    ).fetchone()[0]
    db.execute(f"DELETE FROM events WHERE {where}", args)  # noqa: S608
    return int(count)
