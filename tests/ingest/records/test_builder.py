"""CallRecordBuilder over the recorded Asterisk 22 traces, and its bounds."""

from __future__ import annotations

import dataclasses
import logging
from typing import TypedDict

import pytest

from ingest.ami.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AmiEvent,
    BlindTransfer,
    ChannelInfo,
    Hangup,
    MemberEvent,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
)
from ingest.ami.parser import EventParser
from ingest.records.builder import CallRecordBuilder
from ingest.records.model import (
    AgentInterval,
    CallOutcome,
    CallRecord,
    IntervalKind,
    Record,
)
from ingest.traces import load_jsonl

ALICE = "Local/1001@agents/n"
BOB = "Local/1002@agents/n"
CAROL = "Local/1003@agents/n"
DAVE = "Local/1004@agents/n"
EVE = "Local/1005@agents/n"
FRANK = "Local/1006@agents/n"
GRACE = "Local/1007@agents/n"


def _events(name: str) -> list[tuple[AmiEvent, int]]:
    quiet = logging.getLogger("test.records")
    quiet.setLevel(logging.ERROR)
    parser = EventParser(quiet)
    out = []
    for stamp, message in load_jsonl(name):
        event = parser.parse(message)
        if event is not None:
            out.append((event, int(stamp * 1000)))
    return out


def _run(name: str, builder: CallRecordBuilder | None = None) -> list[Record]:
    builder = builder or CallRecordBuilder(queue_wrapup_s={"sales": 2})
    records: list[Record] = []
    for event, now in _events(name):
        records.extend(builder.feed(event, now))
    return records


def _calls(records: list[Record]) -> list[CallRecord]:
    return [r for r in records if isinstance(r, CallRecord)]


def _intervals(records: list[Record], kind: IntervalKind) -> list[AgentInterval]:
    return [r for r in records if isinstance(r, AgentInterval) and r.kind == kind]


def test_single_call_completed_by_agent() -> None:
    records = _run("b_single_call")
    [call] = _calls(records)
    assert call.record_key() == "1795696328.1|sales"
    assert (call.queue, call.uniqueid, call.linkedid) == ("sales", "1795696328.1", "1795696328.0")
    assert (call.caller_num, call.caller_name) == ("5550001", "Customer One")
    assert call.entered_at == 1795696329150
    assert call.answered_at == 1795696331155
    assert call.ended_at == 1795696337666
    assert (call.answered_by, call.member_name) == (ALICE, "Alice")
    assert (call.hold_time, call.ring_time, call.talk_time) == (2, 2, 6)
    assert (call.ring_attempts, call.ring_no_answers, call.position) == (1, 0, 1)
    assert call.outcome is CallOutcome.COMPLETED_BY_AGENT
    assert call.answered and not call.counts_as_abandoned
    assert call.timed_out is None and call.source == "ami"

    [ring] = _intervals(records, IntervalKind.RINGING)
    assert (ring.interface, ring.started_at, ring.ended_at) == (ALICE, 1795696329150, 1795696331155)
    [in_call] = _intervals(records, IntervalKind.IN_CALL)
    assert (in_call.started_at, in_call.ended_at, in_call.uniqueid) == (
        1795696331155,
        1795696337666,
        "1795696328.1",
    )
    [wrap] = _intervals(records, IntervalKind.WRAP_UP)
    assert (wrap.started_at, wrap.duration_ms) == (1795696337666, 2000)
    # the members' wrapuptime is 0 in this trace: the queue's applies, on the call too
    assert call.wrap_up_time == 2


def test_no_wrap_up_interval_when_the_wrap_up_time_is_unknown() -> None:
    records = _run("b_single_call", CallRecordBuilder())
    assert _intervals(records, IntervalKind.WRAP_UP) == []
    [call] = _calls(records)
    assert call.wrap_up_time is None


def test_the_call_carries_the_members_own_wrap_up_time() -> None:
    builder = CallRecordBuilder(queue_wrapup_s={"sales": 2})
    records: list[Record] = []
    for event, now in _events("b_single_call"):
        if isinstance(event, MemberEvent) and event.member.interface == ALICE:
            event = dataclasses.replace(
                event, member=dataclasses.replace(event.member, wrapuptime=7)
            )
        records.extend(builder.feed(event, now))
    [call] = _calls(records)
    [wrap] = _intervals(records, IntervalKind.WRAP_UP)
    assert call.wrap_up_time == 7
    assert (wrap.started_at, wrap.duration_ms) == (call.ended_at, 7000)


def test_ring_no_answer_counts_attempts() -> None:
    records = _run("c_ringnoanswer")
    calls = {c.uniqueid: c for c in _calls(records)}
    assert len(calls) == 4
    support = calls["1795696347.1"]
    assert (support.queue, support.answered_by, support.member_name) == ("support", DAVE, "Dave")
    assert (support.ring_attempts, support.ring_no_answers) == (2, 1)
    assert (support.hold_time, support.ring_time, support.talk_time) == (7, 1, 5)
    late = calls["1795696365.15"]
    assert (late.answered_by, late.ring_attempts, late.ring_no_answers) == (ALICE, 2, 1)
    assert (late.position, late.hold_time) == (2, 11)
    # AgentComplete came without the caller snapshot: matched by member and queue.
    bob = calls["1795696364.11"]
    assert (bob.answered_by, bob.talk_time, bob.outcome) == (
        BOB,
        7,
        CallOutcome.COMPLETED_BY_AGENT,
    )
    rings = [
        (r.interface, r.uniqueid, r.duration_ms) for r in _intervals(records, IntervalKind.RINGING)
    ]
    assert (EVE, "1795696347.1", 5001) in rings
    assert (DAVE, "1795696347.1", 1002) in rings
    [auto] = _intervals(records, IntervalKind.PAUSED)
    assert (auto.interface, auto.queue, auto.reason) == (EVE, "support", "Auto-Pause")
    assert (auto.started_at, auto.ended_at) == (1795696353011, 1795696362276)


def test_abandons_keep_positions_and_hold_time() -> None:
    builder = CallRecordBuilder()
    records = _run("d_abandon", builder)
    calls = _calls(records)
    assert [(c.queue, c.caller_num, c.hold_time) for c in calls] == [
        ("sales", "5550010", 5),
        ("sales", "5550011", 3),
        ("billing", "5550012", 2),
    ]
    for call in calls:
        assert call.outcome is CallOutcome.ABANDONED
        assert call.counts_as_abandoned and not call.answered
        assert (call.position, call.abandon_position, call.original_position) == (1, 1, 1)
        assert call.timed_out is None  # AMI cannot tell a hang-up from the Queue() timeout
    first = calls[0]
    assert (first.entered_at, first.ended_at, first.ring_attempts) == (
        1795696386948,
        1795696391450,
        1,
    )
    # Carol's ring stopped with the abandon.
    [ring] = _intervals(records, IntervalKind.RINGING)
    assert (ring.interface, ring.ended_at) == (CAROL, 1795696391450)
    paused = {(p.interface, p.reason): p for p in _intervals(records, IntervalKind.PAUSED)}
    assert set(paused) == {(ALICE, "lunch"), (BOB, "training")}
    assert paused[(BOB, "training")].ended_at == 1795696403213
    assert builder.open_calls() == []
    # Carol is still paused ("meeting") at the end of the trace.
    [open_pause] = builder.close_all(1795696404300)
    assert isinstance(open_pause, AgentInterval)
    assert (open_pause.interface, open_pause.reason, open_pause.started_at) == (
        CAROL,
        "meeting",
        1795696392951,
    )


def test_member_admin_pause_and_login_intervals() -> None:
    builder = CallRecordBuilder()
    records = _run("e_member_admin", builder)
    paused = [
        (p.queue, p.reason, p.started_at, p.ended_at)
        for p in _intervals(records, IntervalKind.PAUSED)
        if p.interface == FRANK
    ]
    assert paused == [
        ("billing", "coffee", 1795696405994, 1795696409499),
        # added paused to support; a new reason splits the interval
        ("support", "onboarding", 1795696405994, 1795696420766),
        ("billing", "break", 1795696420766, 1795696421268),
        ("support", "break", 1795696420766, 1795696421268),
    ]
    logged = [
        (i.interface, i.queue, i.member_name, i.started_at, i.ended_at)
        for i in _intervals(records, IntervalKind.LOGGED_IN)
    ]
    assert logged == [
        (FRANK, "support", "Frank", 1795696405994, 1795696421269),
        (GRACE, "billing", "Grace", 1795696405993, 1795696421269),
    ]
    [call] = _calls(records)
    assert (call.queue, call.answered_by, call.hold_time, call.talk_time) == (
        "billing",
        FRANK,
        6,
        6,
    )
    # Frank stays logged in to billing.
    [still] = builder.close_all(1795696422300)
    assert isinstance(still, AgentInterval)
    assert (still.interface, still.queue, still.kind) == (FRANK, "billing", IntervalKind.LOGGED_IN)


def test_realtime_trace_call() -> None:
    [call] = _calls(_run("h_realtime"))
    assert (call.queue, call.caller_num, call.member_name) == ("rtq", "5559001", "Alice RT")
    assert (call.hold_time, call.talk_time, call.outcome) == (2, 5, CallOutcome.COMPLETED_BY_AGENT)


@pytest.mark.parametrize(
    "name", ["b_single_call", "c_ringnoanswer", "d_abandon", "e_member_admin", "h_realtime"]
)
def test_replayed_events_do_not_duplicate_records(name: str) -> None:
    """Replaying the stream (e.g. after a reconnect) yields no new keys."""
    once = _run(name)
    keys = [r.record_key() for r in once]
    assert len(keys) == len(set(keys))
    assert keys == [r.record_key() for r in _run(name)]
    builder = CallRecordBuilder(queue_wrapup_s={"sales": 2})
    events = _events(name)
    first = [r for e, t in events for r in builder.feed(e, t)]
    again = [r for e, t in events for r in builder.feed(e, t)]
    assert [r.record_key() for r in first] == keys
    # The same events through the same builder again: the same records under the
    # same keys, so the writer's upsert on record_key() changes nothing.
    assert {r.record_key(): r for r in again} == {r.record_key(): r for r in first}


# --- hand-made events: bounds, leaves ------------------------------------------


def _chan(uniqueid: str) -> ChannelInfo:
    return ChannelInfo(
        channel=f"PJSIP/trunk-{uniqueid}",
        channel_state=6,
        channel_state_desc="Up",
        caller_id_num="555",
        caller_id_name=None,
        connected_line_num=None,
        connected_line_name=None,
        context="in",
        exten="s",
        priority=1,
        uniqueid=uniqueid,
        linkedid=uniqueid,
    )


class _Agent(TypedDict):
    queue: str
    interface: str
    member_name: str
    caller: ChannelInfo | None
    dest: ChannelInfo | None


def _join(uniqueid: str, queue: str = "q") -> QueueCallerJoin:
    return QueueCallerJoin(queue=queue, position=1, count=1, caller=_chan(uniqueid))


def test_open_calls_are_bounded_in_number() -> None:
    builder = CallRecordBuilder(max_open_calls=3)
    out = [r for i in range(5) for r in builder.feed(_join(f"u{i}"), 1000 + i)]
    assert [(r.uniqueid, r.outcome, r.ended_at) for r in _calls(out)] == [
        ("u0", CallOutcome.LEFT, 1003),
        ("u1", CallOutcome.LEFT, 1004),
    ]
    assert [c.uniqueid for c in builder.open_calls()] == ["u2", "u3", "u4"]
    assert builder.calls_evicted == 2


def test_open_calls_are_bounded_in_age() -> None:
    builder = CallRecordBuilder(max_call_age_ms=60_000)
    builder.feed(_join("old"), 0)
    assert builder.feed(_join("new"), 30_000) == []
    [expired] = builder.expire(60_001)
    assert isinstance(expired, CallRecord)
    assert (expired.uniqueid, expired.outcome, expired.entered_at) == ("old", CallOutcome.LEFT, 0)
    assert builder.calls_expired == 1
    assert [c.uniqueid for c in builder.open_calls()] == ["new"]


def test_leave_then_connect_is_an_answer_and_a_bare_leave_is_left() -> None:
    builder = CallRecordBuilder(leave_grace_ms=5000)
    builder.feed(_join("a"), 0)
    builder.feed(QueueCallerLeave(queue="q", position=1, count=0, caller=_chan("a")), 1000)
    agent = _Agent(queue="q", interface="SIP/1", member_name="One", caller=_chan("a"), dest=None)
    builder.feed(AgentConnect(**agent, hold_time=1, ring_time=1), 1000)
    assert builder.expire(10_000) == []
    out = builder.feed(AgentComplete(**agent, hold_time=1, talk_time=9, reason="transfer"), 10_000)
    [done] = _calls(out)
    assert (done.outcome, done.talk_time) == (CallOutcome.TRANSFERRED, 9)

    builder.feed(_join("b"), 20_000)
    builder.feed(QueueCallerLeave(queue="q", position=1, count=0, caller=_chan("b")), 21_000)
    assert builder.expire(25_000) == []
    [left] = builder.expire(26_001)
    assert isinstance(left, CallRecord)
    assert (left.uniqueid, left.outcome, left.ended_at) == ("b", CallOutcome.LEFT, 21_000)


def test_events_for_a_call_joined_before_start() -> None:
    builder = CallRecordBuilder()
    agent = _Agent(queue="q", interface="SIP/1", member_name="One", caller=_chan("x"), dest=None)
    builder.feed(AgentCalled(**agent), 50_000)
    out = builder.feed(
        QueueCallerAbandon(
            queue="q", position=2, original_position=4, hold_time=30, caller=_chan("x")
        ),
        60_000,
    )
    [call] = _calls(out)
    assert (call.entered_at, call.position, call.original_position, call.abandon_position) == (
        30_000,
        None,
        4,
        2,
    )


def test_caller_hangup_after_an_unanswered_leave_closes_the_call() -> None:
    builder = CallRecordBuilder(leave_grace_ms=60_000)
    builder.feed(_join("c", "q1"), 0)
    builder.feed(_join("c", "q2"), 0)  # the same caller queued twice
    builder.feed(QueueCallerLeave(queue="q1", position=1, count=0, caller=_chan("c")), 4000)
    out = builder.feed(Hangup(channel=_chan("c"), cause=16, cause_txt="Normal Clearing"), 5000)
    [left] = _calls(out)
    assert (left.record_key(), left.outcome, left.ended_at) == ("c|q1", CallOutcome.LEFT, 4000)
    # q2 never saw a leave: still open.
    assert [c.key for c in builder.open_calls()] == [("c", "q2")]
    # a Hangup of another channel closes nothing
    assert builder.feed(Hangup(channel=_chan("z"), cause=16, cause_txt=""), 6000) == []


def _blind(transferee: str, *, result: str = "Success") -> BlindTransfer:
    return BlindTransfer(
        result=result,
        transferer_uniqueid="member-leg",
        transferee_uniqueid=transferee,
        extension="2000",
        context="sales-desk",
    )


@pytest.mark.parametrize("blind_first", [True, False])
def test_a_blind_transfer_names_where_the_call_went(blind_first: bool) -> None:
    """app_queue's AgentComplete (Reason transfer) and the BlindTransfer come in either
    order; the record ends TRANSFERRED with ``exten@context`` either way (stated again
    with the target when the transfer came second: the writer's upsert keeps it)."""
    builder = CallRecordBuilder()
    agent = _Agent(queue="q", interface="SIP/1", member_name="One", caller=_chan("t"), dest=None)
    builder.feed(_join("t"), 0)
    builder.feed(AgentConnect(**agent, hold_time=2, ring_time=1), 2000)
    complete = AgentComplete(**agent, hold_time=2, talk_time=30, reason="transfer")
    if blind_first:
        assert _calls(builder.feed(_blind("t"), 32_000)) == []
        [done] = _calls(builder.feed(complete, 32_000))
    else:
        [first] = _calls(builder.feed(complete, 32_000))
        assert first.transfer_target is None
        [done] = _calls(builder.feed(_blind("t"), 32_000))
        assert done.record_key() == first.record_key() and done.ended_at == first.ended_at
    assert (done.outcome, done.transfer_target, done.talk_time) == (
        CallOutcome.TRANSFERRED,
        "2000@sales-desk",
        30,
    )
    # Told once: a repeated BlindTransfer restates nothing.
    assert _calls(builder.feed(_blind("t"), 33_000)) == []


def test_a_failed_blind_transfer_changes_nothing() -> None:
    builder = CallRecordBuilder()
    agent = _Agent(queue="q", interface="SIP/1", member_name="One", caller=_chan("f"), dest=None)
    builder.feed(_join("f"), 0)
    builder.feed(AgentConnect(**agent, hold_time=2, ring_time=1), 2000)
    assert builder.feed(_blind("f", result="Fail"), 3000) == []
    [done] = _calls(
        builder.feed(AgentComplete(**agent, hold_time=2, talk_time=9, reason="agent"), 9000)
    )
    assert (done.outcome, done.transfer_target) == (CallOutcome.COMPLETED_BY_AGENT, None)


def test_blind_transfer_is_parsed_from_the_wire() -> None:
    message = {
        "Event": "BlindTransfer",
        "Privilege": "call,all",
        "Result": "Success",
        "TransfererChannel": "Local/1001@agents-00000001;1",
        "TransfererUniqueid": "1800000000.12",
        "TransfereeChannel": "PJSIP/trunk-00000001",
        "TransfereeUniqueid": "1800000000.10",
        "IsExternal": "No",
        "Context": "sales-desk",
        "Extension": "2000",
    }
    assert EventParser().parse(message) == BlindTransfer(
        result="Success",
        transferer_uniqueid="1800000000.12",
        transferee_uniqueid="1800000000.10",
        extension="2000",
        context="sales-desk",
    )
