"""queue_log lines -> ParsedLine/MalformedLine -> CallRecord/AgentInterval."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.records.model import AgentInterval, CallOutcome, CallRecord, IntervalKind, Record
from ingest.records.queue_log import (
    MalformedLine,
    ParsedLine,
    QueueLogReplayer,
    parse_line,
    parse_queue_log,
)

ALICE = "SIP/1001"


def _replay(text: str) -> tuple[list[Record], QueueLogReplayer]:
    replayer = QueueLogReplayer(member_interfaces={"Alice": ALICE})
    lines = [line.strip() for line in text.strip().splitlines()]
    return list(replayer.replay(parse_queue_log(lines))), replayer


def _calls(records: list[Record]) -> list[CallRecord]:
    return [r for r in records if isinstance(r, CallRecord)]


def _intervals(records: list[Record], kind: IntervalKind) -> list[AgentInterval]:
    return [r for r in records if isinstance(r, AgentInterval) and r.kind == kind]


def test_parse_line_fields() -> None:
    line = parse_line(7, "1366720340|1366720340.303267|MYQUEUE|SIP/8007|RINGNOANSWER|1000")
    assert line == ParsedLine(
        number=7,
        time_ms=1366720340000,
        callid="1366720340.303267",
        queue="MYQUEUE",
        agent="SIP/8007",
        event="RINGNOANSWER",
        data=("1000",),
    )
    assert line.integer(0) == 1000 and line.field(1) is None


def test_answered_call_completed_by_agent() -> None:
    records, _ = _replay("""
        1000|1000.1|sales|NONE|ENTERQUEUE||5550001|2
        1004|1000.1|sales|Bob|RINGNOANSWER|3000
        1006|1000.1|sales|Alice|CONNECT|6|1005.7|2
        1066|1000.1|sales|Alice|COMPLETEAGENT|6|60|2
    """)
    [call] = _calls(records)
    assert call.record_key() == "1000.1|sales"
    assert (call.caller_num, call.position, call.original_position) == ("5550001", 2, 2)
    assert (call.entered_at, call.answered_at, call.ended_at) == (1_000_000, 1_006_000, 1_066_000)
    assert (call.answered_by, call.member_name) == (ALICE, "Alice")
    assert (call.hold_time, call.ring_time, call.talk_time) == (6, 2, 60)
    assert (call.ring_attempts, call.ring_no_answers) == (2, 1)
    assert call.outcome is CallOutcome.COMPLETED_BY_AGENT and call.source == "queue_log"
    rings = [
        (r.interface, r.started_at, r.ended_at) for r in _intervals(records, IntervalKind.RINGING)
    ]
    assert rings == [("Bob", 1_001_000, 1_004_000), (ALICE, 1_004_000, 1_006_000)]
    [in_call] = _intervals(records, IntervalKind.IN_CALL)
    assert (in_call.interface, in_call.started_at, in_call.ended_at) == (
        ALICE,
        1_006_000,
        1_066_000,
    )


def test_complete_caller_without_connect_is_estimated() -> None:
    records, _ = _replay("2000|2.5|support|Alice|COMPLETECALLER|10|30|1")
    [call] = _calls(records)
    assert call.outcome is CallOutcome.COMPLETED_BY_CALLER
    assert (call.answered_at, call.entered_at, call.talk_time) == (1_970_000, 1_960_000, 30)


def test_abandon_and_timeout_both_count_as_abandoned() -> None:
    records, _ = _replay("""
        100|1.1|sales|NONE|ENTERQUEUE||5550010|1
        105|1.1|sales|NONE|ABANDON|1|1|5
        200|1.2|sales|NONE|ENTERQUEUE||5550011|3
        230|1.2|sales|NONE|EXITWITHTIMEOUT|2|3|30
    """)
    abandon, timeout = _calls(records)
    assert (abandon.outcome, abandon.timed_out) == (CallOutcome.ABANDONED, False)
    assert (abandon.abandon_position, abandon.original_position, abandon.hold_time) == (1, 1, 5)
    assert (timeout.outcome, timeout.timed_out) == (CallOutcome.TIMED_OUT, True)
    assert (timeout.position, timeout.abandon_position, timeout.original_position) == (3, 2, 3)
    assert (timeout.hold_time, timeout.ended_at) == (30, 230_000)
    assert abandon.counts_as_abandoned and timeout.counts_as_abandoned
    assert not abandon.answered


def test_exit_empty_and_exit_with_key() -> None:
    records, _ = _replay("""
        300|3.1|billing|NONE|EXITEMPTY|1|1|0
        310|3.2|billing|NONE|EXITWITHKEY|5|2|4|12
    """)
    empty, key = _calls(records)
    assert (empty.outcome, empty.abandon_position, empty.hold_time) == (
        CallOutcome.EXIT_EMPTY,
        1,
        0,
    )
    assert (key.outcome, key.abandon_position, key.original_position, key.hold_time) == (
        CallOutcome.EXIT_WITH_KEY,
        2,
        4,
        12,
    )
    assert key.entered_at == 298_000 and not key.counts_as_abandoned


def test_transfers() -> None:
    records, _ = _replay("""
        400|4.1|sales|Alice|CONNECT|3|4.9|1
        450|4.1|sales|Alice|BLINDTRANSFER|2000|internal|3|50|1
        500|4.2|sales|Alice|CONNECT|4|5.9|1
        600|4.2|sales|Alice|ATTENDEDTRANSFER|LINK|PJSIP/a-1|PJSIP/b-2|4|100|2
        700|4.3|sales|Alice|CONNECT|1|6.9|1
        720|4.3|sales|Alice|ATTENDEDTRANSFER|BRIDGE|abc-bridge|1|20|1
    """)
    blind, link, bridge = _calls(records)
    assert (blind.outcome, blind.transfer_target, blind.talk_time) == (
        CallOutcome.TRANSFERRED,
        "2000@internal",
        50,
    )
    assert (link.hold_time, link.talk_time, link.original_position) == (4, 100, 2)
    assert (bridge.hold_time, bridge.talk_time, bridge.outcome) == (1, 20, CallOutcome.TRANSFERRED)
    assert len(_intervals(records, IntervalKind.IN_CALL)) == 3


def test_member_pause_and_login_intervals() -> None:
    records, replayer = _replay("""
        10|NONE|sales|Alice|ADDMEMBER|
        20|NONE|sales|Alice|PAUSE|lunch
        30|NONE|sales|Alice|PAUSE|meeting
        40|NONE|sales|Alice|UNPAUSE|
        45|NONE|NONE|Alice|PAUSEALL|
        50|NONE|sales|Alice|PAUSE|
        60|REALTIME|sales|Alice|REMOVEMEMBER|
        70|NONE|support|Dave|PAUSE|Auto-Pause
    """)
    paused = [
        (p.interface, p.reason, p.started_at, p.ended_at)
        for p in _intervals(records, IntervalKind.PAUSED)
    ]
    assert paused == [
        (ALICE, "lunch", 20_000, 30_000),
        (ALICE, "meeting", 30_000, 40_000),
        (ALICE, None, 50_000, 60_000),
    ]
    [login] = _intervals(records, IntervalKind.LOGGED_IN)
    assert (login.interface, login.member_name, login.started_at, login.ended_at) == (
        ALICE,
        "Alice",
        10_000,
        60_000,
    )
    assert replayer.ignored == 1
    [dave] = replayer.close_all(80_000)
    assert isinstance(dave, AgentInterval)
    assert (dave.interface, dave.reason, dave.source) == ("Dave", "Auto-Pause", "queue_log")


def test_a_member_added_paused_is_paused_from_its_addmember_line() -> None:
    # app_queue writes no PAUSE line for QueueAdd ... Paused: 1, only ADDMEMBER|PAUSED.
    records, _ = _replay("""
        10|MANAGER|sales|SIP/1001|ADDMEMBER|PAUSED
        25|NONE|sales|Alice|UNPAUSE|
        40|MANAGER|sales|SIP/1001|REMOVEMEMBER|
    """)
    [paused] = _intervals(records, IntervalKind.PAUSED)
    assert (paused.interface, paused.reason, paused.started_at, paused.ended_at) == (
        ALICE,
        None,
        10_000,
        25_000,
    )


def test_ringcanceled_ends_the_ring_of_a_caller_who_hung_up() -> None:
    records, replayer = _replay("""
        100|1.1|sales|NONE|ENTERQUEUE||5550010|1
        107|1.1|sales|Alice|RINGCANCELED|4500
        107|1.1|sales|NONE|ABANDON|1|1|7
    """)
    [ring] = _intervals(records, IntervalKind.RINGING)
    assert (ring.interface, ring.uniqueid, ring.started_at, ring.ended_at) == (
        ALICE,
        "1.1",
        102_500,
        107_000,
    )
    [call] = _calls(records)
    assert (call.outcome, call.ring_no_answers) == (CallOutcome.ABANDONED, 0)
    assert replayer.ignored == 0


def test_malformed_lines_are_reported_with_their_numbers() -> None:
    lines = [
        "1000|1.1|sales|NONE|ENTERQUEUE||555|1",
        "",
        "garbage",
        "notatime|1.1|sales|NONE|ABANDON|1|1|5",
        "1000|1.1|sales|NONE|connect|1|x|1",
        "1000||sales|NONE|ABANDON|1|1|5",
        "1000|1.1|sales|Alice|CONNECT|soon|x|1",
        "1000|1.1|sales|Alice|COMPLETEAGENT|1",
        "1000|1.1|sales|NONE|EXITWITHKEY|5|two",
        "1000|1.1|sales|Alice|ATTENDEDTRANSFER|BRIDGE|1|2",
        "1000|1.1|sales|NONE|ABANDON|1|1|5\r\n",
    ]
    parsed = list(parse_queue_log(lines))
    bad = [(p.number, p.reason) for p in parsed if isinstance(p, MalformedLine)]
    assert bad == [
        (3, "1 fields, at least 5 expected"),
        (4, "bad timestamp 'notatime'"),
        (5, "bad event name 'connect'"),
        (6, "empty callid or queue"),
        (7, "CONNECT: data1 'soon' is not a number"),
        (8, "COMPLETEAGENT: data2 '' is not a number"),
        (9, "EXITWITHKEY: data2 'two' is not a number"),
        (10, "ATTENDEDTRANSFER: 3 data fields, 4+"),
    ]
    assert [p.number for p in parsed if isinstance(p, ParsedLine)] == [1, 11]
    replayer = QueueLogReplayer()
    [call] = list(replayer.replay(parsed))
    assert isinstance(call, CallRecord)
    assert (call.outcome, replayer.malformed) == (CallOutcome.ABANDONED, 8)


def test_replayed_file_gives_the_same_keys() -> None:
    text = """
        1000|1000.1|sales|NONE|ENTERQUEUE||5550001|1
        1006|1000.1|sales|Alice|CONNECT|6|1005.7|2
        1066|1000.1|sales|Alice|COMPLETEAGENT|6|60|1
        20|NONE|sales|Alice|PAUSE|lunch
        40|NONE|sales|Alice|UNPAUSE|
    """
    first, _ = _replay(text)
    again, _ = _replay(text + text)
    assert {r.record_key() for r in again} == {r.record_key() for r in first}
    assert len({r.record_key() for r in first}) == len(first) == 4


def test_open_calls_are_bounded() -> None:
    replayer = QueueLogReplayer(max_open_calls=2, max_call_age_ms=100_000)
    lines = [f"{10 + i}|c{i}|q|NONE|ENTERQUEUE||55{i}|1" for i in range(3)]
    out = list(replayer.replay(parse_queue_log(lines)))
    assert [(r.uniqueid, r.outcome) for r in _calls(out)] == [("c0", CallOutcome.LEFT)]
    assert replayer.calls_evicted == 1
    late = list(replayer.replay(parse_queue_log(["500|other|q|NONE|ENTERQUEUE||1|1"])))
    assert sorted(r.uniqueid for r in _calls(late)) == ["c1", "c2"]
    assert replayer.calls_expired == 2
    assert [c.uniqueid for c in replayer.open_calls()] == ["other"]


_FIELD = st.text(alphabet=st.characters(blacklist_characters="|\n\r"), max_size=12)
_EVENTS = st.sampled_from(
    [
        "ENTERQUEUE",
        "CONNECT",
        "RINGNOANSWER",
        "COMPLETEAGENT",
        "COMPLETECALLER",
        "BLINDTRANSFER",
        "ATTENDEDTRANSFER",
        "ABANDON",
        "EXITWITHTIMEOUT",
        "EXITEMPTY",
        "EXITWITHKEY",
        "PAUSE",
        "UNPAUSE",
        "ADDMEMBER",
        "REMOVEMEMBER",
        "AGENTDUMP",
    ]
)
_PIPED = st.builds(
    lambda stamp, callid, event, data: "|".join([stamp, callid, "q", "A", event, *data]),
    st.one_of(st.integers(0, 2**40).map(str), _FIELD),
    st.sampled_from(["1.1", "1.2", "NONE", ""]),
    _EVENTS,
    st.lists(st.one_of(st.integers(-5, 10**6).map(str), _FIELD), max_size=7),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=80), _PIPED), max_size=25))
def test_any_line_never_raises(lines: list[str]) -> None:
    parsed = list(parse_queue_log(lines))
    for item in parsed:
        assert isinstance(item, ParsedLine | MalformedLine)
        assert 1 <= item.number <= len(lines)
    replayer = QueueLogReplayer(max_open_calls=5)
    records = list(replayer.replay(parsed))
    records += replayer.close_all(2**42)
    for record in records:
        assert record.record_key()
