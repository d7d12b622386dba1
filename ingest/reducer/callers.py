"""Callers waiting in a queue: join, leave, abandon.

A queue's ``callers`` are keyed by the caller channel's Uniqueid. Asterisk
keeps positions contiguous from 1 and renumbers silently: a caller joining at
position p moves everyone at p or later down one, a caller leaving from p
moves everyone after it up one, with no event for them — the `shift`
operation does the same inside the store. ``callsWaiting`` is derived by the
store from ``callers``.
"""

from __future__ import annotations

from ingest.ami.events import QueueCallerAbandon, QueueCallerJoin, QueueCallerLeave
from ingest.patches import Change, Patch
from ingest.reducer.channels import refresh
from ingest.reducer.dispatch import register


@register(QueueCallerJoin)
def reduce_caller_join(event: QueueCallerJoin, now: int) -> list[Change]:
    """A caller enters at `position`, joined now."""
    caller = event.caller
    if caller is None:
        # Nothing to key the caller by; Asterisk always sends the channel.
        return []
    entry = {
        "position": event.position,
        "channel": caller.channel,
        "uniqueId": caller.uniqueid,
        "callerIdNum": caller.caller_id_num,
        "callerIdName": caller.caller_id_name,
        "joinedAt": now,
    }
    return [
        Patch(
            "queue",
            event.queue,
            {"callers": {caller.uniqueid: entry}},
            shift=[(("callers",), "position", event.position, 1)],
        ),
        *refresh(caller, queueName=event.queue),
    ]


@register(QueueCallerLeave)
def reduce_caller_leave(event: QueueCallerLeave, now: int) -> list[Change]:
    """A caller leaves (answered, abandoned, timed out); the ones behind move up."""
    removed = {"callers": {event.caller.uniqueid: None}} if event.caller else {}
    return [
        Patch(
            "queue",
            event.queue,
            removed,
            shift=[(("callers",), "position", event.position + 1, -1)],
        )
    ]


@register(QueueCallerAbandon)
def reduce_caller_abandon(event: QueueCallerAbandon, now: int) -> list[Change]:
    """Counted as abandoned (within the service level or not); the QueueCallerLeave
    that follows removes the caller."""
    return [
        Patch(
            "queue",
            event.queue,
            count_within=[(("abandonedInServiceLevel",), event.hold_time, ("serviceLevel",))],
            incr=[(("abandoned",), 1)],
        )
    ]
