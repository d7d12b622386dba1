"""The AMI events the model emits, shaped as Asterisk 22's did in the recorded traces.

Pure functions from the run-time records to messages: event names, field names
and field order as app_queue and the channel core send them.
"""

from __future__ import annotations

from simulator.config import DeviceState
from simulator.records import CallerRecord, ChannelRecord, MemberRecord
from simulator.wire import CHANNEL_KEYS

Event = dict[str, str]
"""One AMI message built by the model, keys in wire order."""

STATE_DESC = {
    0: "Down",
    1: "Rsrvd",
    2: "OffHook",
    3: "Dialing",
    4: "Ring",
    5: "Ringing",
    6: "Up",
    7: "Busy",
    8: "Dialing Offhook",
    9: "Pre-ring",
}
"""``ChannelStateDesc`` for each ``ChannelState``."""

_CAUSE_TEXT = {0: "Unknown", 16: "Normal Clearing", 26: "Answered elsewhere"}
_DEST_KEYS = tuple("Dest" + key for key in CHANNEL_KEYS)
_SPYER_KEYS = tuple("Spyer" + key for key in CHANNEL_KEYS)
_SPYEE_KEYS = tuple("Spyee" + key for key in CHANNEL_KEYS)


def stamped(event: Event, when: float) -> Event:
    """``event`` with ``Timestamp: <epoch>.<microseconds>`` after ``Privilege``, where
    manager.c puts it with ``timestampevents = yes``."""
    # Truncated like a timeval, never rounded up into the next second: the queue_log's
    # whole seconds (time(NULL)) of the same moment must agree with it.
    seconds = int(when)
    stamp = f"{seconds}.{min(999_999, int((when - seconds) * 1_000_000)):06d}"
    out: Event = {}
    for key, value in event.items():
        out[key] = value
        if key == "Privilege":
            out["Timestamp"] = stamp
    out.setdefault("Timestamp", stamp)
    return out


def channel_fields(ch: ChannelRecord, keys: tuple[str, ...] = CHANNEL_KEYS) -> Event:
    """The channel fields of ``ch`` under ``keys`` (``Dest…`` ones for the member's leg)."""
    values = (
        ch.name,
        str(ch.state),
        STATE_DESC[ch.state],
        ch.cid_num,
        ch.cid_name,
        ch.con_num,
        ch.con_name,
        "en",
        "",
        ch.context,
        ch.exten,
        ch.priority,
        ch.uniqueid,
        ch.linkedid,
    )
    return dict(zip(keys, values, strict=True))


def channel_event(name: str, ch: ChannelRecord) -> Event:
    """Newchannel, Newstate, NewCallerid, Hangup … (the caller adds what follows the fields)."""
    event: Event = {"Event": name, "Privilege": "call,all"}
    event.update(channel_fields(ch))
    return event


def hangup_event(ch: ChannelRecord, cause: int) -> Event:
    """``Hangup`` with its cause."""
    event = channel_event("Hangup", ch)
    event["Cause"] = str(cause)
    event["Cause-txt"] = _CAUSE_TEXT.get(cause, "Unknown")
    return event


def caller_event(name: str, entry: CallerRecord, dest: ChannelRecord | None = None) -> Event:
    """A queue event about a caller (QueueCallerJoin, AgentCalled …), ``dest`` the member's leg."""
    event: Event = {"Event": name, "Privilege": "agent,all"}
    event.update(channel_fields(entry.inner))
    if dest is not None:
        event.update(channel_fields(dest, _DEST_KEYS))
    event["Queue"] = entry.queue
    return event


def member_event(
    name: str, m: MemberRecord, status: DeviceState, *, reason: str | None = None
) -> Event:
    """A queue member event (QueueMemberStatus, QueueMemberPause …); ``status``: its device's."""
    return {
        "Event": name,
        "Privilege": "agent,all",
        "Queue": m.queue,
        "MemberName": m.name,
        "Interface": m.interface,
        "StateInterface": m.state_interface,
        "Membership": m.membership,
        "Penalty": str(m.penalty),
        "CallsTaken": str(m.calls),
        "LastCall": str(m.last_call),
        "LastPause": str(m.last_pause),
        "LoginTime": str(m.login_time),
        "InCall": "1" if m.in_call else "0",
        "Status": str(int(status)),
        "Paused": "1" if m.paused else "0",
        "PausedReason": m.paused_reason if reason is None else reason,
        "Ringinuse": "1" if m.ringinuse else "0",
        "Wrapuptime": str(m.wrapuptime),
    }


def originate_response(
    action_id: str | None,
    ch: ChannelRecord,
    application: str,
    data: str,
    caller_num: str | None,
    caller_name: str | None,
) -> Event:
    """``OriginateResponse`` of an async Originate with ``Application`` (manager.c's
    ``fast_originate``): the originating session's ActionID first, Reason 4 = answered."""
    event: Event = {"Event": "OriginateResponse", "Privilege": "call,all"}
    if action_id is not None:
        event["ActionID"] = action_id
    event.update(
        {
            "Response": "Success",
            "Channel": ch.name,
            "Application": application,
            "Data": data,
            "Reason": "4",
            "Uniqueid": ch.uniqueid,
            "CallerIDNum": caller_num or "<unknown>",
            "CallerIDName": caller_name or "<unknown>",
        }
    )
    return event


def spy_event(name: str, spyer: ChannelRecord, spyee: ChannelRecord) -> Event:
    """``ChanSpyStart`` / ``ChanSpyStop``: the spyer's channel snapshot prefixed ``Spyer``,
    then the spied channel's prefixed ``Spyee`` (main/manager_channels.c)."""
    event: Event = {"Event": name, "Privilege": "call,all"}
    event.update(channel_fields(spyer, _SPYER_KEYS))
    event.update(channel_fields(spyee, _SPYEE_KEYS))
    return event


def device_state_event(device: str, state: str) -> Event:
    """``DeviceStateChange`` of a phone, or of a member's pause state (``Queue:…_pause_…``)."""
    return {
        "Event": "DeviceStateChange",
        "Privilege": "call,all",
        "Device": device,
        "State": state,
    }


def pause_device(m: MemberRecord) -> tuple[str, str]:
    """The pseudo-device app_queue keeps for a member's pause, and its state."""
    return f"Queue:{m.queue}_pause_{m.interface}", "INUSE" if m.paused else "NOT_INUSE"
