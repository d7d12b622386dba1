"""Raw AMI message -> typed event, through a dispatch table keyed by event name.

`parse` is strict: a missing required field or a bad number raises
`MalformedEvent` (fields are read by `ingest.ami.fields`); an event kind we
do not track returns None. `EventParser` wraps it for the ingest loop: it
never raises, counts per kind and logs each unknown or malformed kind once
at WARNING (details at DEBUG).

Event names and field names are matched case-insensitively, and the field
spellings of Asterisk 13 to 22 are accepted (Interface/Location,
MemberName/Name, Holdtime/HoldTime, ServicelevelPerf/ServiceLevelPerf,
PausedReason/Reason, QueueMemberPaused for QueueMemberPause). Pure: no I/O,
no clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypedDict

from ingest.ami.events import (
    LIST_COMPLETE_EVENTS,
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentDump,
    AgentRingNoAnswer,
    AmiEvent,
    BlindTransfer,
    ChannelEvent,
    ChannelInfo,
    CoreShowChannel,
    DeviceStateChange,
    FullyBooted,
    Hangup,
    ListComplete,
    MemberEvent,
    MemberInfo,
    NewCallerid,
    Newchannel,
    NewConnectedLine,
    Newstate,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueEntry,
    QueueMember,
    QueueMemberAdded,
    QueueMemberPause,
    QueueMemberPenalty,
    QueueMemberRemoved,
    QueueMemberRinginuse,
    QueueMemberStatus,
    QueueParams,
    QueueSummary,
    Reload,
    Shutdown,
)
from ingest.ami.fields import NO_CALLER_ID_QUEUE_ENTRY, Fields, MalformedEvent, header_value
from ingest.ami.message import AmiMessage

# --- field groups -----------------------------------------------------------


def _channel(f: Fields, prefix: str = "") -> ChannelInfo | None:
    """The channel snapshot with this prefix (``""`` or ``"Dest"``), None if absent."""
    p = prefix
    if not (f.has(p + "Channel") or f.has(p + "Uniqueid") or f.has(p + "ChannelState")):
        return None
    return ChannelInfo(
        channel=f.text(p + "Channel"),
        channel_state=f.integer(p + "ChannelState"),
        channel_state_desc=f.raw(p + "ChannelStateDesc") or "",
        caller_id_num=f.caller_id(p + "CallerIDNum"),
        caller_id_name=f.caller_id(p + "CallerIDName"),
        connected_line_num=f.caller_id(p + "ConnectedLineNum"),
        connected_line_name=f.caller_id(p + "ConnectedLineName"),
        context=f.text(p + "Context"),
        exten=f.text(p + "Exten"),
        priority=f.integer(p + "Priority"),
        uniqueid=f.text(p + "Uniqueid"),
        linkedid=f.text(p + "Linkedid"),
    )


def _required_channel(f: Fields) -> ChannelInfo:
    channel = _channel(f)
    if channel is None:
        raise f.error("Channel", "is missing")
    return channel


def _member(f: Fields, names: tuple[str, str], interfaces: tuple[str, str]) -> MemberInfo:
    interface = f.text(*interfaces)
    return MemberInfo(
        queue=f.text("Queue"),
        interface=interface,
        member_name=f.text(*names),
        # Asterisk reads the interface's own state when none is configured.
        state_interface=f.opt_text("StateInterface") or interface,
        membership=f.text("Membership"),
        penalty=f.integer("Penalty"),
        calls_taken=f.integer("CallsTaken"),
        last_call=f.integer("LastCall"),
        last_pause=f.opt_integer("LastPause"),
        login_time=f.opt_integer("LoginTime"),
        in_call=f.opt_flag("InCall"),
        status=f.integer("Status"),
        paused=f.flag("Paused"),
        # `Reason` was the pause reason's header before Asterisk 18.
        paused_reason=f.opt_text("PausedReason", "Reason"),
        ringinuse=f.opt_flag("Ringinuse", "RingInUse"),
        wrapuptime=f.opt_integer("Wrapuptime", "WrapupTime"),
    )


_EVENT_MEMBER = (("MemberName", "Name"), ("Interface", "Location"))
_LIST_MEMBER = (("Name", "MemberName"), ("Location", "Interface"))


# --- handlers -----------------------------------------------------------------

Handler = Callable[[Fields], AmiEvent]


def _member_event(cls: type[MemberEvent]) -> Handler:
    def build(f: Fields) -> AmiEvent:
        return cls(member=_member(f, *_EVENT_MEMBER))

    return build


def _queue_member(f: Fields) -> AmiEvent:
    return QueueMember(member=_member(f, *_LIST_MEMBER), action_id=f.raw("ActionID"))


def _caller_join(f: Fields) -> AmiEvent:
    return QueueCallerJoin(
        queue=f.text("Queue"),
        position=f.integer("Position"),
        count=f.integer("Count"),
        caller=_channel(f),
    )


def _caller_leave(f: Fields) -> AmiEvent:
    return QueueCallerLeave(
        queue=f.text("Queue"),
        position=f.integer("Position"),
        count=f.integer("Count"),
        caller=_channel(f),
    )


def _caller_abandon(f: Fields) -> AmiEvent:
    return QueueCallerAbandon(
        queue=f.text("Queue"),
        position=f.integer("Position"),
        original_position=f.integer("OriginalPosition"),
        hold_time=f.integer("HoldTime", "Holdtime"),
        caller=_channel(f),
    )


def _agent_called(f: Fields) -> AmiEvent:
    return AgentCalled(**_agent(f))


def _agent_dump(f: Fields) -> AmiEvent:
    return AgentDump(**_agent(f))


def _agent_connect(f: Fields) -> AmiEvent:
    return AgentConnect(
        **_agent(f),
        hold_time=f.integer("HoldTime", "Holdtime"),
        ring_time=f.integer("RingTime", "Ringtime"),
    )


def _agent_complete(f: Fields) -> AmiEvent:
    return AgentComplete(
        **_agent(f),
        hold_time=f.integer("HoldTime", "Holdtime"),
        talk_time=f.integer("TalkTime", "Talktime"),
        reason=f.text("Reason"),
    )


def _agent_ring_no_answer(f: Fields) -> AmiEvent:
    return AgentRingNoAnswer(**_agent(f), ring_time_ms=f.integer("RingTime", "Ringtime"))


class _AgentFields(TypedDict):
    queue: str
    interface: str
    member_name: str
    caller: ChannelInfo | None
    dest: ChannelInfo | None


def _agent(f: Fields) -> _AgentFields:
    return {
        "queue": f.text("Queue"),
        "interface": f.text("Interface", "Location"),
        "member_name": f.text("MemberName", "Name"),
        "caller": _channel(f),
        "dest": _channel(f, "Dest"),
    }


def _channel_event(cls: type[ChannelEvent]) -> Handler:
    def build(f: Fields) -> AmiEvent:
        return cls(channel=_required_channel(f))

    return build


def _new_callerid(f: Fields) -> AmiEvent:
    return NewCallerid(channel=_required_channel(f), cid_calling_pres=f.opt_text("CID-CallingPres"))


def _hangup(f: Fields) -> AmiEvent:
    return Hangup(
        channel=_required_channel(f),
        cause=f.integer("Cause"),
        cause_txt=f.raw("Cause-txt") or "",
    )


def _core_show_channel(f: Fields) -> AmiEvent:
    return CoreShowChannel(
        channel=_required_channel(f),
        application=f.raw("Application") or "",
        application_data=f.raw("ApplicationData") or "",
        duration=f.duration("Duration"),
        bridge_id=f.opt_text("BridgeId"),
        action_id=f.raw("ActionID"),
    )


def _device_state(f: Fields) -> AmiEvent:
    return DeviceStateChange(
        device=f.text("Device"), state=f.text("State"), action_id=f.raw("ActionID")
    )


def _queue_params(f: Fields) -> AmiEvent:
    return QueueParams(
        queue=f.text("Queue"),
        max_callers=f.integer("Max"),
        strategy=f.text("Strategy"),
        calls=f.integer("Calls"),
        hold_time=f.integer("Holdtime", "HoldTime"),
        talk_time=f.integer("TalkTime", "Talktime"),
        completed=f.integer("Completed"),
        abandoned=f.integer("Abandoned"),
        service_level=f.integer("ServiceLevel"),
        service_level_perf=f.number("ServicelevelPerf", "ServiceLevelPerf"),
        service_level_perf2=f.opt_float("ServicelevelPerf2", "ServiceLevelPerf2"),
        weight=f.integer("Weight"),
        action_id=f.raw("ActionID"),
    )


def _queue_entry(f: Fields) -> AmiEvent:
    placeholders = NO_CALLER_ID_QUEUE_ENTRY
    return QueueEntry(
        queue=f.text("Queue"),
        position=f.integer("Position"),
        channel=f.text("Channel"),
        uniqueid=f.text("Uniqueid"),
        caller_id_num=f.caller_id("CallerIDNum", placeholders),
        caller_id_name=f.caller_id("CallerIDName", placeholders),
        connected_line_num=f.caller_id("ConnectedLineNum", placeholders),
        connected_line_name=f.caller_id("ConnectedLineName", placeholders),
        wait=f.integer("Wait"),
        priority=f.opt_integer("Priority"),
        action_id=f.raw("ActionID"),
    )


def _queue_summary(f: Fields) -> AmiEvent:
    return QueueSummary(
        queue=f.text("Queue"),
        logged_in=f.integer("LoggedIn"),
        available=f.integer("Available"),
        callers=f.integer("Callers"),
        hold_time=f.integer("HoldTime", "Holdtime"),
        talk_time=f.integer("TalkTime", "Talktime"),
        longest_hold_time=f.integer("LongestHoldTime", "LongestHoldtime"),
        action_id=f.raw("ActionID"),
    )


def _list_complete(name: str) -> Handler:
    def build(f: Fields) -> AmiEvent:
        return ListComplete(
            name=name, list_items=f.opt_integer("ListItems"), action_id=f.raw("ActionID")
        )

    return build


def _blind_transfer(f: Fields) -> AmiEvent:
    return BlindTransfer(
        result=f.raw("Result") or "",
        transferer_uniqueid=f.opt_text("TransfererUniqueid"),
        transferee_uniqueid=f.opt_text("TransfereeUniqueid"),
        extension=f.raw("Extension") or "",
        context=f.raw("Context") or "",
    )


def _fully_booted(f: Fields) -> AmiEvent:
    return FullyBooted(
        status=f.raw("Status") or "",
        uptime=f.opt_integer("Uptime"),
        last_reload=f.opt_integer("LastReload"),
    )


def _shutdown(f: Fields) -> AmiEvent:
    return Shutdown(shutdown=f.opt_text("Shutdown"), restart=f.opt_flag("Restart"))


def _reload(f: Fields) -> AmiEvent:
    return Reload(
        module=f.opt_text("Module"), status=f.opt_text("Status"), message=f.opt_text("Message")
    )


_HANDLERS: dict[str, Handler] = {
    "QueueMemberStatus": _member_event(QueueMemberStatus),
    "QueueMemberAdded": _member_event(QueueMemberAdded),
    "QueueMemberRemoved": _member_event(QueueMemberRemoved),
    "QueueMemberPause": _member_event(QueueMemberPause),
    "QueueMemberPaused": _member_event(QueueMemberPause),
    "QueueMemberPenalty": _member_event(QueueMemberPenalty),
    "QueueMemberRinginuse": _member_event(QueueMemberRinginuse),
    "QueueMember": _queue_member,
    "QueueCallerJoin": _caller_join,
    "QueueCallerLeave": _caller_leave,
    "QueueCallerAbandon": _caller_abandon,
    "AgentCalled": _agent_called,
    "AgentConnect": _agent_connect,
    "AgentComplete": _agent_complete,
    "AgentRingNoAnswer": _agent_ring_no_answer,
    "AgentDump": _agent_dump,
    "Newchannel": _channel_event(Newchannel),
    "Newstate": _channel_event(Newstate),
    "NewCallerid": _new_callerid,
    "NewConnectedLine": _channel_event(NewConnectedLine),
    "Hangup": _hangup,
    "CoreShowChannel": _core_show_channel,
    "DeviceStateChange": _device_state,
    "QueueParams": _queue_params,
    "QueueEntry": _queue_entry,
    "QueueSummary": _queue_summary,
    **{name: _list_complete(name) for name in LIST_COMPLETE_EVENTS},
    "BlindTransfer": _blind_transfer,
    "FullyBooted": _fully_booted,
    "Shutdown": _shutdown,
    "Reload": _reload,
}
_DISPATCH: dict[str, tuple[str, Handler]] = {
    name.lower(): (name, handler) for name, handler in _HANDLERS.items()
}

TRACKED_EVENTS: frozenset[str] = frozenset(_HANDLERS)
"""The AMI event names `parse` turns into events (any letter case is accepted)."""


def canonical_name(event: str) -> str | None:
    """The tracked event name as Asterisk spells it, None for an untracked one."""
    entry = _DISPATCH.get(event.lower())
    return entry[0] if entry else None


def parse(message: AmiMessage) -> AmiEvent | None:
    """The typed event of one AMI message; None for an event kind we do not track.

    Raises `MalformedEvent` when the message has no ``Event`` header or a tracked
    event lacks a required field or has a bad value.
    """
    fields = Fields(message)
    entry = _DISPATCH.get(fields.event.lower())
    if entry is None:
        return None
    return entry[1](fields)


# --- the counting, never-raising wrapper ---------------------------------------


@dataclass(slots=True)
class KindCounts:
    """What happened to the messages of one event kind."""

    parsed: int = 0
    unknown: int = 0
    malformed: int = 0


_NO_EVENT = "<no event>"
_OTHER_KINDS = "<other>"


class EventParser:
    """`parse` for the ingest loop: never raises, counts per kind, logs sparingly.

    The first unknown or malformed message of each kind is logged at WARNING,
    every one at DEBUG. Kinds are counted under their tracked spelling; past
    ``max_kinds`` distinct names, unknown kinds share one ``<other>`` counter
    so a misbehaving peer cannot grow the table without bound.
    """

    def __init__(self, logger: logging.Logger | None = None, *, max_kinds: int = 512) -> None:
        self._log = logger or logging.getLogger(__name__)
        self._max_kinds = max_kinds
        self._counts: dict[str, KindCounts] = {}
        self._warned: set[tuple[str, str]] = set()

    @property
    def counts(self) -> Mapping[str, KindCounts]:
        """Counters per event kind (read-only view)."""
        return self._counts

    @property
    def parsed(self) -> int:
        """Messages that became events."""
        return sum(c.parsed for c in self._counts.values())

    @property
    def unknown(self) -> int:
        """Messages of kinds we do not track."""
        return sum(c.unknown for c in self._counts.values())

    @property
    def malformed(self) -> int:
        """Messages of tracked kinds (or without a kind) that could not be parsed."""
        return sum(c.malformed for c in self._counts.values())

    def parse(self, message: AmiMessage) -> AmiEvent | None:
        """The typed event, or None (untracked kind or malformed, both counted)."""
        kind = _kind_of(message)
        try:
            event = parse(message)
        except MalformedEvent as exc:
            self._note(kind, "malformed", str(exc))
            return None
        except Exception as exc:  # a parser bug must not stop the ingest loop
            self._note(kind, "malformed", f"{type(exc).__name__}: {exc}")
            return None
        if event is None:
            self._note(kind, "unknown", "")
            return None
        self._counter(kind).parsed += 1
        return event

    def _counter(self, kind: str) -> KindCounts:
        counts = self._counts.get(kind)
        if counts is None:
            if len(self._counts) >= self._max_kinds and kind not in TRACKED_EVENTS:
                kind = _OTHER_KINDS
            counts = self._counts.setdefault(kind, KindCounts())
        return counts

    def _note(self, kind: str, outcome: str, detail: str) -> None:
        counts = self._counter(kind)
        if outcome == "unknown":
            counts.unknown += 1
        else:
            counts.malformed += 1
        if (outcome, kind) not in self._warned and len(self._warned) < self._max_kinds:
            self._warned.add((outcome, kind))
            self._log.warning(
                "%s AMI event kind %r (counted; further ones are logged at DEBUG only)%s",
                outcome,
                kind,
                f": {detail}" if detail else "",
            )
        else:
            self._log.debug("%s AMI event %r %s", outcome, kind, detail)


def _kind_of(message: AmiMessage) -> str:
    """The event name to count a message under, without trusting its shape."""
    try:
        value = header_value(message, "event")
    except Exception:
        return _NO_EVENT
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, str) or not value:
        return _NO_EVENT
    return canonical_name(value) or value[:80]
