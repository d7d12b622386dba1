"""What the call centre looks like now: the items of the AMI list actions, and the truth.

Read-only views of a :class:`~simulator.state.CentreState`: ``QueueStatus``
(QueueParams, QueueMember, QueueEntry), ``QueueSummary``, ``CoreShowChannels``
and ``DeviceStateList`` items as Asterisk lists them (without ActionID: the
server adds it, see :mod:`simulator.actions`), and :func:`truth`, the whole
state as plain dicts for the tests to compare with.
"""

from __future__ import annotations

from typing import Any

from simulator.config import AVAILABLE, DeviceState
from simulator.events import STATE_DESC, Event, channel_fields
from simulator.state import CentreState


def queue_status(state: CentreState, queue: str = "", member: str = "") -> list[Event]:
    """QueueParams, QueueMember and QueueEntry items, as ``QueueStatus`` lists them."""
    items: list[Event] = []
    now = int(state.clock.now)
    for q in state.queues.values():
        if queue and q.name != queue:
            continue
        perf, perf2 = q.perf()
        items.append(
            {
                "Event": "QueueParams",
                "Queue": q.name,
                "Max": str(q.config.maxlen),
                "Strategy": q.config.strategy,
                "Calls": str(len(q.callers)),
                "Holdtime": str(q.holdtime),
                "TalkTime": str(q.talktime),
                "Completed": str(q.completed),
                "Abandoned": str(q.abandoned),
                "ServiceLevel": str(q.config.servicelevel),
                "ServicelevelPerf": perf,
                "ServicelevelPerf2": perf2,
                "Weight": str(q.config.weight),
            }
        )
        for m in q.members.values():
            if member and member not in (m.interface, m.name):
                continue
            items.append(
                {
                    "Event": "QueueMember",
                    "Queue": q.name,
                    "Name": m.name,
                    "Location": m.interface,
                    "StateInterface": m.state_interface,
                    # app_queue lists realtime members as static here.
                    "Membership": "static" if m.membership == "realtime" else m.membership,
                    "Penalty": str(m.penalty),
                    "CallsTaken": str(m.calls),
                    "LastCall": str(m.last_call),
                    "LastPause": str(m.last_pause),
                    "LoginTime": str(m.login_time),
                    "InCall": "1" if m.in_call else "0",
                    "Status": str(int(state.status(m))),
                    "Paused": "1" if m.paused else "0",
                    "PausedReason": m.paused_reason,
                    "Wrapuptime": str(m.wrapuptime),
                }
            )
        for pos, entry in enumerate(q.callers, 1):
            ch = entry.inner
            items.append(
                {
                    "Event": "QueueEntry",
                    "Queue": q.name,
                    "Position": str(pos),
                    "Channel": ch.name,
                    "Uniqueid": ch.uniqueid,
                    "CallerIDNum": ch.cid_num,
                    "CallerIDName": ch.cid_name,
                    "ConnectedLineNum": ch.con_num,
                    "ConnectedLineName": ch.con_name,
                    "Wait": str(now - int(entry.joined_at)),
                    "Priority": "0",
                }
            )
    return items


def queue_summary(state: CentreState, queue: str = "") -> list[Event]:
    """QueueSummary items."""
    items: list[Event] = []
    now = int(state.clock.now)
    for q in state.queues.values():
        if queue and q.name != queue:
            continue
        logged_in = available = 0
        for m in q.members.values():
            status = state.status(m)
            if status in (DeviceState.UNAVAILABLE, DeviceState.INVALID):
                continue
            logged_in += 1
            if status in AVAILABLE and not m.paused:
                available += 1
        longest = max((now - int(e.joined_at) for e in q.callers), default=0)
        items.append(
            {
                "Event": "QueueSummary",
                "Queue": q.name,
                "LoggedIn": str(logged_in),
                "Available": str(available),
                "Callers": str(len(q.callers)),
                "HoldTime": str(q.holdtime),
                "TalkTime": str(q.talktime),
                "LongestHoldTime": str(longest),
            }
        )
    return items


def core_show_channels(state: CentreState) -> list[Event]:
    """CoreShowChannel items (channel fields + Application … BridgeId), no ActionID."""
    items: list[Event] = []
    for ch in state.channels.values():
        secs = max(0, int(state.clock.now - ch.created))
        item: Event = {"Event": "CoreShowChannel"}
        item.update(channel_fields(ch))
        item["Application"] = ch.application
        item["ApplicationData"] = ch.app_data
        item["Duration"] = f"{secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}"
        item["BridgeId"] = ch.bridge
        items.append(item)
    return items


def device_states(state: CentreState) -> list[tuple[str, str]]:
    """(Device, State) pairs for DeviceStateList: phones and queue pause states.

    The pause states are Asterisk's device-state cache: a removed member's stays.
    """
    states = [(si, device.name) for si, device in state.devices.items()]
    states.extend(state.pause_states.items())
    return states


def truth(state: CentreState) -> dict[str, Any]:
    """The whole current state as plain dicts.

    ``queues`` and ``members`` use the keys of the traces'
    ``expected.json`` (plus a few more), so the same comparison serves
    both; ``channels`` lists the live channels; ``devices`` the phones.
    """
    now = int(state.clock.now)
    queues: dict[str, Any] = {}
    members: dict[str, Any] = {}
    for q in state.queues.values():
        perf, perf2 = q.perf()
        queues[q.name] = {
            "strategy": q.config.strategy,
            "calls_waiting": len(q.callers),
            "completed": q.completed,
            "abandoned": q.abandoned,
            "holdtime": q.holdtime,
            "talktime": q.talktime,
            "service_level": q.config.servicelevel,
            "service_level_perf": float(perf),
            "service_level_perf2": float(perf2),
            "waiting_callers": [
                {
                    "position": pos,
                    "channel": e.inner.name,
                    "uniqueid": e.inner.uniqueid,
                    "caller_id_num": e.inner.cid_num,
                    "caller_id_name": e.inner.cid_name,
                    "wait": now - int(e.joined_at),
                }
                for pos, e in enumerate(q.callers, 1)
            ],
        }
        members[q.name] = {
            m.interface: {
                "name": m.name,
                "status": int(state.status(m)),
                "paused": int(m.paused),
                "paused_reason": m.paused_reason,
                "in_call": int(m.in_call),
                "calls_taken": m.calls,
                "last_call": m.last_call,
                "last_pause": m.last_pause,
                "login_time": m.login_time,
                "penalty": m.penalty,
                "membership": m.membership,
                "state_interface": m.state_interface,
                "wrapuptime": m.wrapuptime,
                "ringinuse": int(m.ringinuse),
            }
            for m in q.members.values()
        }
    channels = {
        ch.name: {
            "uniqueid": ch.uniqueid,
            "linkedid": ch.linkedid,
            "state": ch.state,
            "state_desc": STATE_DESC[ch.state],
            "caller_id_num": ch.cid_num,
            "caller_id_name": ch.cid_name,
            "connected_line_num": ch.con_num,
            "connected_line_name": ch.con_name,
            "context": ch.context,
            "exten": ch.exten,
            "application": ch.application,
            "bridge_id": ch.bridge,
        }
        for ch in state.channels.values()
    }
    devices = {si: device.name for si, device in state.devices.items()}
    return {
        "time": state.clock.now,
        "queues": queues,
        "members": members,
        "channels": channels,
        "devices": devices,
    }
