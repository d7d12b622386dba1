"""parse / EventParser: every recorded event, field variants, malformed input, fuzzing."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from panoramisk.message import Message

from ingest.ami import events as ev
from ingest.ami.fields import MalformedEvent
from ingest.ami.message import AmiMessageDict
from ingest.ami.parser import (
    TRACKED_EVENTS,
    EventParser,
    canonical_name,
    parse,
)
from ingest.traces import load_jsonl, trace_names
from tests.support.traces import load_expected

TRACES = trace_names()


# --- the recorded events, as a parametrize table ------------------------------------


def _recorded_events() -> list[tuple[str, AmiMessageDict, tuple[float, float]]]:
    """(id, message, plausible epoch span) of every tracked event in every trace."""
    found = []
    for name in TRACES:
        messages = load_jsonl(name)
        span = (messages[0][0] - 86400, messages[-1][0] + 60)
        for index, (_, message) in enumerate(messages):
            event = message.get("Event")
            if isinstance(event, str) and canonical_name(event) is not None:
                found.append((f"{name}-{index}-{event}", message, span))
    return found


RECORDED_EVENTS = _recorded_events()
RECORDED = [pytest.param(m, span, id=i) for i, m, span in RECORDED_EVENTS]
EXPECTED_CLASS: dict[str, type[ev.AmiEvent]] = {
    **{cls.EVENT: cls for cls in ev.EVENT_CLASSES},
    "QueueMemberPaused": ev.QueueMemberPause,
    **{name: ev.ListComplete for name in ev.LIST_COMPLETE_EVENTS},
}


def flag(value: str) -> bool:
    return value == "1"


def caller_id(value: str) -> str | None:
    return None if value in ("", "<unknown>") else value


def optional(value: str) -> str | None:
    return value or None


Conv = Callable[[str], object]
# AMI field -> (attribute, conversion) — written out independently of the parser.
CHANNEL_FIELDS: dict[str, tuple[str, Conv]] = {
    "Channel": ("channel", str),
    "ChannelState": ("channel_state", int),
    "ChannelStateDesc": ("channel_state_desc", str),
    "CallerIDNum": ("caller_id_num", caller_id),
    "CallerIDName": ("caller_id_name", caller_id),
    "ConnectedLineNum": ("connected_line_num", caller_id),
    "ConnectedLineName": ("connected_line_name", caller_id),
    "Context": ("context", str),
    "Exten": ("exten", str),
    "Priority": ("priority", int),
    "Uniqueid": ("uniqueid", str),
    "Linkedid": ("linkedid", str),
}
MEMBER_FIELDS: dict[str, tuple[str, Conv]] = {
    "Queue": ("queue", str),
    "MemberName": ("member_name", str),
    "Name": ("member_name", str),
    "Interface": ("interface", str),
    "Location": ("interface", str),
    "StateInterface": ("state_interface", str),
    "Membership": ("membership", str),
    "Penalty": ("penalty", int),
    "CallsTaken": ("calls_taken", int),
    "LastCall": ("last_call", int),
    "LastPause": ("last_pause", int),
    "LoginTime": ("login_time", int),
    "InCall": ("in_call", flag),
    "Status": ("status", int),
    "Paused": ("paused", flag),
    "PausedReason": ("paused_reason", optional),
    "Ringinuse": ("ringinuse", flag),
    "Wrapuptime": ("wrapuptime", int),
}
AGENT_FIELDS: dict[str, tuple[str, Conv]] = {
    "Queue": ("queue", str),
    "Interface": ("interface", str),
    "MemberName": ("member_name", str),
}
CALLER_FIELDS: dict[str, tuple[str, Conv]] = {
    "Queue": ("queue", str),
    "Position": ("position", int),
    "Count": ("count", int),
}
EVENT_FIELDS: dict[type[ev.AmiEvent], dict[str, tuple[str, Conv]]] = {
    ev.QueueCallerJoin: CALLER_FIELDS,
    ev.QueueCallerLeave: CALLER_FIELDS,
    ev.QueueCallerAbandon: {
        "Queue": ("queue", str),
        "Position": ("position", int),
        "OriginalPosition": ("original_position", int),
        "HoldTime": ("hold_time", int),
    },
    ev.AgentCalled: AGENT_FIELDS,
    ev.AgentConnect: {
        **AGENT_FIELDS,
        "HoldTime": ("hold_time", int),
        "RingTime": ("ring_time", int),
    },
    ev.AgentComplete: {
        **AGENT_FIELDS,
        "HoldTime": ("hold_time", int),
        "TalkTime": ("talk_time", int),
        "Reason": ("reason", str),
    },
    ev.AgentRingNoAnswer: {**AGENT_FIELDS, "RingTime": ("ring_time_ms", int)},
    ev.Hangup: {"Cause": ("cause", int), "Cause-txt": ("cause_txt", str)},
    ev.NewCallerid: {"CID-CallingPres": ("cid_calling_pres", str)},
    ev.DeviceStateChange: {"Device": ("device", str), "State": ("state", str)},
    ev.QueueParams: {
        "Queue": ("queue", str),
        "Max": ("max_callers", int),
        "Strategy": ("strategy", str),
        "Calls": ("calls", int),
        "Holdtime": ("hold_time", int),
        "TalkTime": ("talk_time", int),
        "Completed": ("completed", int),
        "Abandoned": ("abandoned", int),
        "ServiceLevel": ("service_level", int),
        "ServicelevelPerf": ("service_level_perf", float),
        "ServicelevelPerf2": ("service_level_perf2", float),
        "Weight": ("weight", int),
    },
    ev.QueueEntry: {
        "Queue": ("queue", str),
        "Position": ("position", int),
        "Channel": ("channel", str),
        "Uniqueid": ("uniqueid", str),
        "CallerIDNum": ("caller_id_num", caller_id),
        "CallerIDName": ("caller_id_name", caller_id),
        "ConnectedLineNum": ("connected_line_num", caller_id),
        "ConnectedLineName": ("connected_line_name", caller_id),
        "Wait": ("wait", int),
        "Priority": ("priority", int),
    },
    ev.QueueSummary: {
        "Queue": ("queue", str),
        "LoggedIn": ("logged_in", int),
        "Available": ("available", int),
        "Callers": ("callers", int),
        "HoldTime": ("hold_time", int),
        "TalkTime": ("talk_time", int),
        "LongestHoldTime": ("longest_hold_time", int),
    },
    ev.ListComplete: {"ListItems": ("list_items", int)},
    ev.FullyBooted: {
        "Status": ("status", str),
        "Uptime": ("uptime", int),
        "LastReload": ("last_reload", int),
    },
}
# Fields we deliberately do not carry.
IGNORED = {"Event", "Privilege", "Language", "AccountCode", "EventList"}
CHANNEL_STATE_NAMES = [
    "Down",
    "Rsrvd",
    "OffHook",
    "Dialing",
    "Ring",
    "Ringing",
    "Up",
    "Busy",
    "Dialing Offhook",
    "Pre-ring",
]


def _check_mapped(
    obj: object, mapping: dict[str, tuple[str, Conv]], message: AmiMessageDict
) -> set[str]:
    used = set()
    for field, (attr, conv) in mapping.items():
        if field in message:
            raw = message[field]
            assert isinstance(raw, str)
            assert getattr(obj, attr) == conv(raw), field
            used.add(field)
    return used


def _check_channel(info: ev.ChannelInfo | None, message: AmiMessageDict, prefix: str) -> set[str]:
    fields = {prefix + f: spec for f, spec in CHANNEL_FIELDS.items()}
    if not any(f in message for f in fields):
        assert info is None
        return set()
    assert info is not None
    assert 0 <= info.channel_state <= 9
    assert info.channel_state_desc == CHANNEL_STATE_NAMES[info.channel_state]
    assert info.uniqueid and info.linkedid and info.channel
    return _check_mapped(info, fields, message) | {prefix + "Language", prefix + "AccountCode"}


@pytest.mark.parametrize(("message", "span"), RECORDED)
def test_recorded_event_parses_to_its_class(
    message: AmiMessageDict, span: tuple[float, float]
) -> None:
    raw_name = message["Event"]
    assert isinstance(raw_name, str)
    event = parse(message)
    assert type(event) is EXPECTED_CLASS[raw_name]
    assert event.kind == raw_name
    used = set(IGNORED)
    if isinstance(event, ev.MemberEvent):
        member = event.member
        used |= _check_mapped(member, MEMBER_FIELDS, message)
        assert 0 <= member.status <= 8
        assert member.membership in {"static", "dynamic", "realtime"}
        for stamp in (member.last_call, member.last_pause, member.login_time):
            assert stamp == 0 or span[0] <= (stamp or 0) <= span[1]
        assert member.calls_taken >= 0 and member.penalty >= 0
        if isinstance(event, ev.QueueMember):
            assert member.ringinuse is None
    if isinstance(event, ev.AgentEvent):
        used |= _check_channel(event.caller, message, "")
        used |= _check_channel(event.dest, message, "Dest")
    elif isinstance(event, ev.QueueCallerJoin | ev.QueueCallerLeave | ev.QueueCallerAbandon):
        used |= _check_channel(event.caller, message, "")
        assert event.position >= 1
    elif isinstance(event, ev.ChannelEvent):
        used |= _check_channel(event.channel, message, "")
    used |= _check_mapped(event, EVENT_FIELDS.get(type(event), {}), message)
    if "ActionID" in message:
        assert getattr(event, "action_id", None) == message["ActionID"]
        used.add("ActionID")
    # Every field on the wire is either carried (and checked above) or known to be dropped.
    assert set(message) <= used, set(message) - used


def test_recorded_units_are_sane() -> None:
    seen: dict[type[ev.AmiEvent], int] = {}
    for _, message, _ in RECORDED_EVENTS:
        event = parse(message)
        assert event is not None
        seen[type(event)] = seen.get(type(event), 0) + 1
        if isinstance(event, ev.AgentRingNoAnswer):
            assert event.ring_time_ms >= 1000  # milliseconds
        if isinstance(event, ev.AgentConnect):
            assert 0 <= event.ring_time < 60 and 0 <= event.hold_time < 600  # seconds
        if isinstance(event, ev.AgentComplete):
            assert event.reason in {"caller", "agent", "transfer"}
            assert 0 <= event.talk_time < 600
    # The traces exercise every live queue/agent/member/channel kind but AgentDump.
    for cls in (
        ev.QueueMemberStatus,
        ev.QueueMemberAdded,
        ev.QueueMemberRemoved,
        ev.QueueMemberPause,
        ev.QueueMemberPenalty,
        ev.QueueMemberRinginuse,
        ev.QueueMember,
        ev.QueueCallerJoin,
        ev.QueueCallerLeave,
        ev.QueueCallerAbandon,
        ev.AgentCalled,
        ev.AgentConnect,
        ev.AgentComplete,
        ev.AgentRingNoAnswer,
        ev.Newchannel,
        ev.Newstate,
        ev.NewCallerid,
        ev.NewConnectedLine,
        ev.Hangup,
        ev.DeviceStateChange,
        ev.QueueParams,
        ev.QueueEntry,
        ev.QueueSummary,
        ev.ListComplete,
        ev.FullyBooted,
    ):
        assert seen.get(cls), cls


def test_agent_complete_without_channel_snapshots() -> None:
    shapes = set()
    for _, message, _ in RECORDED_EVENTS:
        event = parse(message)
        if isinstance(event, ev.AgentComplete):
            shapes.add((event.caller is None, event.dest is None))
    assert (True, True) in shapes  # neither snapshot (c_ringnoanswer)
    assert (False, False) in shapes


@pytest.mark.parametrize("name", TRACES)
def test_final_queue_status_matches_expected_state(name: str) -> None:
    expected = load_expected(name)
    action_id = expected["source"]["ActionID"]
    members: dict[str, dict[str, ev.MemberInfo]] = {}
    params: dict[str, ev.QueueParams] = {}
    for _, message in load_jsonl(name):
        if message.get("ActionID") != action_id:
            continue
        event = parse(message) if "Event" in message else None
        if isinstance(event, ev.QueueMember):
            members.setdefault(event.member.queue, {})[event.member.interface] = event.member
        elif isinstance(event, ev.QueueParams):
            params[event.queue] = event
    assert members.keys() == {q for q, by_location in expected["members"].items() if by_location}
    assert params.keys() == expected["queues"].keys()
    for queue, by_location in expected["members"].items():
        assert members.get(queue, {}).keys() == by_location.keys()
        for location, want in by_location.items():
            got = members[queue][location]
            assert got.member_name == want["name"]
            assert got.status == want["status"]
            assert got.paused is bool(want["paused"])
            assert got.paused_reason == (want["paused_reason"] or None)
            assert got.in_call is bool(want["in_call"])
            assert got.calls_taken == want["calls_taken"]
            assert got.last_call == want["last_call"]
            assert got.penalty == want["penalty"]
            assert got.membership == want["membership"]
            assert got.state_interface == want["state_interface"]
            assert got.wrapuptime == want["wrapuptime"]
    for queue, want_queue in expected["queues"].items():
        got_queue = params[queue]
        assert got_queue.completed == want_queue["completed"]
        assert got_queue.abandoned == want_queue["abandoned"]
        assert got_queue.hold_time == want_queue["holdtime"]
        assert got_queue.talk_time == want_queue["talktime"]
        assert got_queue.strategy == want_queue["strategy"]
        assert got_queue.calls == want_queue["calls_waiting"]


# --- field-name variants of other Asterisk versions ----------------------------------

MEMBER_13: AmiMessageDict = {
    # Asterisk 13/16 shape: no LoginTime/LastPause/InCall/Wrapuptime, `Reason`.
    "Event": "QueueMemberPaused",
    "Queue": "sales",
    "MemberName": "Alice",
    "Interface": "SIP/1001",
    "Membership": "dynamic",
    "Penalty": "0",
    "CallsTaken": "3",
    "LastCall": "1700000000",
    "Status": "1",
    "Paused": "1",
    "Reason": "lunch",
    "Ringinuse": "0",
}


def test_old_queue_member_paused_becomes_queue_member_pause() -> None:
    event = parse(MEMBER_13)
    assert isinstance(event, ev.QueueMemberPause)
    assert event.kind == "QueueMemberPause"
    assert event.member == ev.MemberInfo(
        queue="sales",
        interface="SIP/1001",
        member_name="Alice",
        state_interface="SIP/1001",
        membership="dynamic",
        penalty=0,
        calls_taken=3,
        last_call=1700000000,
        last_pause=None,
        login_time=None,
        in_call=None,
        status=1,
        paused=True,
        paused_reason="lunch",
        ringinuse=False,
        wrapuptime=None,
    )


def test_paused_reason_wins_over_reason() -> None:
    event = parse({**MEMBER_13, "Event": "QueueMemberPause", "PausedReason": "new"})
    assert isinstance(event, ev.QueueMemberPause)
    assert event.member.paused_reason == "new"


def test_event_and_field_names_are_case_insensitive() -> None:
    shouted = {k.upper(): v for k, v in MEMBER_13.items()}
    shouted["EVENT"] = "queuememberstatus"
    event = parse(shouted)
    assert isinstance(event, ev.QueueMemberStatus)
    assert event.member.member_name == "Alice" and event.member.paused_reason == "lunch"


def test_queue_member_list_item_accepts_both_spellings() -> None:
    base = {k: v for k, v in MEMBER_13.items() if k not in ("MemberName", "Interface")}
    by_location = parse({**base, "Event": "QueueMember", "Name": "A", "Location": "SIP/1"})
    by_interface = parse({**base, "Event": "QueueMember", "MemberName": "A", "Interface": "SIP/1"})
    assert isinstance(by_location, ev.QueueMember)
    assert by_location == by_interface
    assert by_location.member.interface == "SIP/1" and by_location.action_id is None


def test_queue_params_capital_l_and_no_perf2() -> None:
    event = parse(
        {
            "Event": "QueueParams",
            "Queue": "q",
            "Max": "0",
            "Strategy": "ringall",
            "Calls": "2",
            "HoldTime": "11",
            "TalkTime": "40",
            "Completed": "5",
            "Abandoned": "1",
            "ServiceLevel": "60",
            "ServiceLevelPerf": "83.3",
            "Weight": "0",
            "ActionID": "x",
        }
    )
    assert isinstance(event, ev.QueueParams)
    assert (event.hold_time, event.service_level_perf, event.service_level_perf2) == (
        11,
        83.3,
        None,
    )


def _channel_fields(prefix: str = "", cid: str = "<unknown>") -> AmiMessageDict:
    return {
        f"{prefix}Channel": "PJSIP/1001-00000001",
        f"{prefix}ChannelState": "4",
        f"{prefix}ChannelStateDesc": "Ring",
        f"{prefix}CallerIDNum": cid,
        f"{prefix}CallerIDName": "",
        f"{prefix}ConnectedLineNum": cid,
        f"{prefix}ConnectedLineName": cid,
        f"{prefix}Context": "from-internal",
        f"{prefix}Exten": "s",
        f"{prefix}Priority": "1",
        f"{prefix}Uniqueid": "1.1",
        f"{prefix}Linkedid": "1.0",
    }


def test_unknown_caller_id_is_none() -> None:
    event = parse({"Event": "Newchannel", **_channel_fields()})
    assert isinstance(event, ev.Newchannel)
    info = event.channel
    assert (info.caller_id_num, info.caller_id_name, info.connected_line_name) == (None, None, None)


def test_queue_entry_placeholder_is_none_but_real_ids_stay() -> None:
    event = parse(
        {
            "Event": "QueueEntry",
            "Queue": "q",
            "Position": "1",
            "Channel": "c",
            "Uniqueid": "1.1",
            "CallerIDNum": "unknown",
            "CallerIDName": "Bob",
            "ConnectedLineNum": "unknown",
            "ConnectedLineName": "unknown",
            "Wait": "3",
        }
    )
    assert isinstance(event, ev.QueueEntry)
    assert (event.caller_id_num, event.caller_id_name, event.priority) == (None, "Bob", None)


def test_agent_dump() -> None:
    event = parse(
        {
            "Event": "AgentDump",
            **_channel_fields(cid="555"),
            **_channel_fields("Dest"),
            "Queue": "q",
            "Interface": "PJSIP/1001",
            "MemberName": "Alice",
        }
    )
    assert isinstance(event, ev.AgentDump)
    assert event.caller is not None and event.caller.caller_id_num == "555"
    assert event.dest is not None and event.dest.caller_id_num is None


def test_core_show_channel_duration_in_seconds() -> None:
    event = parse(
        {
            "Event": "CoreShowChannel",
            **_channel_fields(),
            "Application": "Queue",
            "ApplicationData": "sales,r",
            "Duration": "01:02:03",
            "BridgeId": "",
            "ActionID": "a1",
        }
    )
    assert isinstance(event, ev.CoreShowChannel)
    assert (event.duration, event.bridge_id, event.action_id) == (3723, None, "a1")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            {"Event": "Shutdown", "Shutdown": "Cleanly", "Restart": "True"},
            ev.Shutdown(shutdown="Cleanly", restart=True),
        ),
        (
            {"Event": "Reload", "Module": "app_queue.so", "Status": "0"},
            ev.Reload(module="app_queue.so", status="0", message=None),
        ),
        (
            {"Event": "FullyBooted", "Status": "Fully Booted"},
            ev.FullyBooted(status="Fully Booted", uptime=None, last_reload=None),
        ),
        (
            {"Event": "DeviceStateListComplete", "EventList": "Complete", "ListItems": "16"},
            ev.ListComplete(name="DeviceStateListComplete", list_items=16),
        ),
    ],
)
def test_system_events(message: AmiMessageDict, expected: ev.AmiEvent) -> None:
    assert parse(message) == expected


def test_accepts_a_panoramisk_message() -> None:
    message = Message({"Event": "DeviceStateChange", "Device": "Custom:1001", "State": "INUSE"})
    assert parse(message) == ev.DeviceStateChange(device="Custom:1001", state="INUSE")


def test_repeated_identical_event_header_is_fine() -> None:
    event = parse({"Event": ["Reload", "Reload"], "Module": "x"})
    assert isinstance(event, ev.Reload)


def test_events_are_frozen() -> None:
    event = parse({"Event": "Reload", "Module": "x"})
    assert isinstance(event, ev.Reload)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.module = "y"  # type: ignore[misc]


# --- untracked and malformed ----------------------------------------------------------


@pytest.mark.parametrize("name", ["VarSet", "Newexten", "BridgeEnter", "SomethingNew"])
def test_untracked_events_return_none(name: str) -> None:
    assert parse({"Event": name, "Channel": "x"}) is None


@pytest.mark.parametrize(
    ("message", "field", "problem"),
    [
        ({"Response": "Success"}, "Event", "missing"),
        ({"Event": ["Hangup", "Newchannel"]}, "Event", "different"),
        ({**MEMBER_13, "Status": None}, "Status", "missing"),
        ({**MEMBER_13, "Status": "2x"}, "Status", "integer"),
        ({**MEMBER_13, "Paused": "maybe"}, "Paused", "flag"),
        ({**MEMBER_13, "Penalty": ["1", "2"]}, "Penalty", "different"),
        ({**MEMBER_13, "LastCall": "9" * 30}, "LastCall", "integer"),
        ({**MEMBER_13, "Queue": None}, "Queue", "missing"),
        ({"Event": "Hangup", "Cause": "16"}, "Channel", "missing"),
        (
            {"Event": "Newstate", **_channel_fields(), "ChannelState": "up"},
            "ChannelState",
            "integer",
        ),
        ({"Event": "AgentComplete", "Queue": "q", "Interface": "i"}, "MemberName", "missing"),
        (
            {"Event": "QueueParams", "Queue": "q", "Max": "0", "Strategy": "s", "Calls": "0"},
            "Holdtime",
            "missing",
        ),
        (
            {
                "Event": "CoreShowChannel",
                **_channel_fields(),
                "Duration": "5 minutes",
            },
            "Duration",
            "hh:mm:ss",
        ),
    ],
)
def test_malformed_names_event_and_field(message: dict[str, Any], field: str, problem: str) -> None:
    message = {k: v for k, v in message.items() if v is not None}
    with pytest.raises(MalformedEvent) as info:
        parse(message)
    assert info.value.field == field
    assert problem in info.value.problem
    event = message.get("Event", "")
    assert info.value.event == (event if isinstance(event, str) else "")
    assert field in str(info.value)


def _samples() -> dict[str, AmiMessageDict]:
    """One recorded message per tracked kind (and per AgentComplete shape)."""
    seen: dict[str, AmiMessageDict] = {}
    for _, message, _ in RECORDED_EVENTS:
        shape = "" if "Channel" in message else "-bare"
        seen.setdefault(f"{message['Event']}{shape}", message)
    return dict(sorted(seen.items()))


SAMPLES = _samples()
SAMPLE_PARAMS = [pytest.param(m, id=k) for k, m in SAMPLES.items()]


def _malformed(message: AmiMessageDict) -> MalformedEvent | None:
    """The MalformedEvent parse raises, None when it parses."""
    try:
        assert parse(message) is not None
    except MalformedEvent as exc:
        return exc
    return None


@pytest.mark.parametrize("message", SAMPLE_PARAMS)
def test_dropping_any_field_parses_or_blames_that_field(message: AmiMessageDict) -> None:
    for key in message:
        if key == "Event":
            continue
        error = _malformed({k: v for k, v in message.items() if k != key})
        if error is not None:
            assert error.field.lower() == key.lower(), (key, error)
            assert error.event == message["Event"]


@pytest.mark.parametrize("message", SAMPLE_PARAMS)
def test_corrupting_any_number_parses_or_blames_that_field(message: AmiMessageDict) -> None:
    blamed = 0
    for key, value in message.items():
        if not (isinstance(value, str) and value.isdigit()):
            continue
        error = _malformed({**message, key: value + "x"})
        if error is not None:
            assert error.field.lower() == key.lower(), (key, error)
            blamed += 1
        # else: a digit string that is text for us (an extension, a caller id)
    numeric = [k for k, v in message.items() if k not in IGNORED and isinstance(v, str)]
    if any(k in ("Status", "Position", "ChannelState", "Cause", "ListItems") for k in numeric):
        assert blamed


# --- EventParser ----------------------------------------------------------------------


def test_event_parser_counts_and_logs_unknown_once_per_kind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    parser = EventParser()
    caplog.set_level(logging.DEBUG, logger="ingest.ami.parser")
    for name in ["VarSet", "VarSet", "VarSet", "Newexten"]:
        assert parser.parse({"Event": name}) is None
    assert parser.counts["VarSet"].unknown == 3
    assert parser.counts["Newexten"].unknown == 1
    assert parser.unknown == 4 and parser.parsed == 0 and parser.malformed == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "VarSet" in warnings[0].getMessage()
    assert len([r for r in caplog.records if r.levelno == logging.DEBUG]) == 2


def test_event_parser_counts_malformed_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    parser = EventParser()
    caplog.set_level(logging.DEBUG, logger="ingest.ami.parser")
    bad = {**MEMBER_13, "Event": "QueueMemberStatus", "Status": "busy"}
    assert parser.parse(bad) is None
    assert parser.parse(bad) is None
    assert parser.parse({"Privilege": "x"}) is None
    assert isinstance(parser.parse(MEMBER_13), ev.QueueMemberPause)
    assert parser.counts["QueueMemberStatus"].malformed == 2
    assert parser.counts["<no event>"].malformed == 1
    assert parser.counts["QueueMemberPaused"].parsed == 1  # counted as sent
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "Status" in warnings[0] and "busy" in warnings[0]


def test_event_parser_bounds_the_number_of_kinds() -> None:
    parser = EventParser(logger=logging.getLogger("test.bounded"), max_kinds=5)
    for i in range(50):
        parser.parse({"Event": f"Custom{i}"})
    parser.parse({"Event": "Reload"})
    # Unknown kinds past the bound share one counter; tracked kinds keep theirs.
    assert set(parser.counts) == {*(f"Custom{i}" for i in range(5)), "<other>", "Reload"}
    assert parser.counts["<other>"].unknown == 45
    assert parser.unknown == 50 and parser.parsed == 1


def test_event_parser_parses_whole_traces() -> None:
    parser = EventParser(logger=logging.getLogger("test.traces"))
    for name in TRACES:
        for _, message in load_jsonl(name):
            if "Event" in message:
                parser.parse(message)
    assert parser.malformed == 0
    assert parser.parsed == len(RECORDED)
    assert parser.counts["VarSet"].unknown > 0


# --- fuzzing ----------------------------------------------------------------------------

_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "0", "1", "-1", "<unknown>", "00:00:01", "1.5", " 7 ", "\x00"]),
    st.lists(st.text(max_size=5), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_arbitrary_values_in_real_messages_never_crash(data: st.DataObject) -> None:
    message = dict(data.draw(st.sampled_from(list(SAMPLES.values()))))
    for key in data.draw(st.lists(st.sampled_from(sorted(message)), max_size=8)):
        if key != "Event":
            message[key] = data.draw(_VALUES)
    try:
        event = parse(message)
    except MalformedEvent:  # the only exception parse may raise
        event = None
    parser = EventParser(logger=logging.getLogger("test.fuzz"))
    assert parser.parse(message) == event
    assert parser.parsed + parser.malformed + parser.unknown == 1


@settings(max_examples=300, deadline=None)
@given(
    event=st.one_of(st.sampled_from(sorted(TRACKED_EVENTS)), st.text(max_size=10)),
    fields=st.dictionaries(st.text(max_size=12), _VALUES, max_size=12),
)
def test_arbitrary_messages_never_crash_the_event_parser(
    event: str, fields: AmiMessageDict
) -> None:
    parser = EventParser(logger=logging.getLogger("test.fuzz"))
    result = parser.parse({**fields, "Event": event})
    assert result is None or isinstance(result, ev.AmiEvent)
    assert parser.parsed + parser.malformed + parser.unknown == 1
    # The strict parser fails with MalformedEvent only — never another exception.
    if parser.malformed:
        with pytest.raises(MalformedEvent):
            parse({**fields, "Event": event})
    else:
        assert parse({**fields, "Event": event}) == result
