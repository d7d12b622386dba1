"""Queue members: the six member events and the realtime pause device.

An operator is one interface (``Interface``, e.g. ``Local/1001@agents/n`` or
``PJSIP/1001``); each queue it belongs to is an entry of its ``queues``.
Every member event carries the member's whole state in one queue, so each
becomes one merge patch of that entry:

- ``callsTaken`` and ``lastCall`` only grow (`maximum`): around the end of a
  call Asterisk reports them before or after its own update, in any order,
  and the AgentComplete reducer may already have counted the call.
- ``pausedReason`` is empty unless paused: an unpause with a reason repeats
  the reason in the event, but Asterisk clears it on the member.
- ``status`` is the ``Status`` every member event carries: the device state
  app_queue holds for the member, the same value its QueueStatus reports.
  An auto-pause right after a ring timeout still says RINGING because the
  device still rings; the QueueMemberStatus of the device's next change
  follows. The device list (DeviceStateList) is only read by
  reconciliation: a live device change reaches us as the QueueMemberStatus
  app_queue sends for each membership using that device.
- ``membership`` is what the event says (``realtime`` included; QueueStatus
  would call the same member ``static``).

Realtime members change pause without a member event: the
``Queue:<queue>_pause_<interface>`` device state tells (INUSE = paused).
"""

from __future__ import annotations

import re
from typing import Any

from ingest.ami.events import (
    DeviceStateChange,
    MemberEvent,
    MemberInfo,
    QueueMemberAdded,
    QueueMemberPause,
    QueueMemberPenalty,
    QueueMemberRemoved,
    QueueMemberRinginuse,
    QueueMemberStatus,
)
from ingest.domain import status_from_device_state
from ingest.patches import Change, Guard, Patch
from ingest.reducer.dispatch import register

# The device app_queue sets on every pause change; the queue name comes first
# and Asterisk puts no "_pause_" in either part.
_PAUSE_DEVICE = re.compile(r"Queue:(?P<queue>.+?)_pause_(?P<interface>.+)")
_PAUSE_STATES = {"INUSE": True, "NOT_INUSE": False}


def membership_fields(member: MemberInfo) -> dict[str, Any]:
    """The per-queue entry of an operator, as one member event or list item reports it.

    ``callsTaken`` and ``lastCall`` are left out: they are raised with `maximum`.
    """
    data: dict[str, Any] = {
        "queueName": member.queue,
        "memberName": member.member_name,
        "penalty": member.penalty,
        "paused": member.paused,
        "pausedReason": (member.paused_reason or "") if member.paused else "",
        "membership": member.membership,
    }
    optional = {
        "lastPause": member.last_pause,
        "loginTime": member.login_time,
        "inCall": member.in_call,
        "ringinuse": member.ringinuse,
        "wrapupTime": member.wrapuptime,
    }
    data.update({key: value for key, value in optional.items() if value is not None})
    return data


def _counters(member: MemberInfo) -> list[tuple[tuple[str, ...], float]]:
    queue = member.queue
    return [
        (("queues", queue, "callsTaken"), member.calls_taken),
        (("queues", queue, "lastCall"), member.last_call),
    ]


def _member_patch(member: MemberInfo) -> Patch:
    data: dict[str, Any] = {
        "status": status_from_device_state(member.status).value,
        "stateInterface": member.state_interface,
        "queues": {member.queue: membership_fields(member)},
    }
    return Patch("operator", member.interface, data, maximum=_counters(member))


def reduce_member_event(event: MemberEvent, now: int) -> list[Change]:
    """A member event: the member's status and its state in this queue, as reported."""
    return [_member_patch(event.member)]


register(QueueMemberStatus)(reduce_member_event)
register(QueueMemberAdded)(reduce_member_event)
register(QueueMemberPause)(reduce_member_event)
register(QueueMemberPenalty)(reduce_member_event)
register(QueueMemberRinginuse)(reduce_member_event)


@register(QueueMemberRemoved)
def reduce_member_removed(event: QueueMemberRemoved, now: int) -> list[Change]:
    """The membership goes; an operator left in no queue goes too."""
    member = event.member
    no_queue_left = Guard("operator", member.interface, ("queues",), negate=True)
    return [
        Patch("operator", member.interface, {"queues": {member.queue: None}}, create=False),
        Patch("operator", member.interface, delete=True, only_if=no_queue_left),
    ]


@register(DeviceStateChange)
def reduce_device_state(event: DeviceStateChange, now: int) -> list[Change]:
    """``Queue:<q>_pause_<interface>``: the only news of a realtime member's pause.

    Applies to a membership we know; the reason stays as reported elsewhere
    (cleared on unpause). Every other device is told to us by the member
    events of the operators using it.
    """
    match = _PAUSE_DEVICE.fullmatch(event.device)
    paused = _PAUSE_STATES.get(event.state.upper())
    if match is None or paused is None:
        return []
    queue, interface = match["queue"], match["interface"]
    entry: dict[str, Any] = {"paused": paused}
    if not paused:
        entry["pausedReason"] = ""
    return [
        Patch(
            "operator",
            interface,
            {"queues": {queue: entry}},
            create=False,
            only_if=Guard("operator", interface, ("queues", queue)),
        )
    ]
