"""Following one workflow's events as they are published (the CLI's only bus subscription).

Kept in one function so the public streaming API of a workflow's events can replace it.
"""

from __future__ import annotations

import queue

from bus import Event, EventBus, Subscription

__all__ = ["watch"]


def watch(bus: EventBus, workflow_id: str) -> tuple[queue.SimpleQueue[Event], Subscription]:
    """Queue every event of workflow ``workflow_id`` published on ``bus`` from now on.

    The subscriber runs in the publisher's thread and only enqueues (it never blocks);
    the caller drains the queue in its own thread, and unsubscribes when done.

    Returns:
        The queue (events in publish order) and the subscription to give back to
        ``bus.unsubscribe``.
    """
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    subscription = bus.subscribe(
        Event, events.put, where=lambda event: event.workflow_id == workflow_id
    )
    return events, subscription
