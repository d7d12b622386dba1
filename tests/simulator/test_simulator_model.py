"""The call-centre model against the recorded Asterisk traces (no sockets, no sleeping)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest

from ingest.ami.message import AmiMessageDict
from simulator.centre import CallCentre
from simulator.config import CentreConfig, DeviceState, MemberSetup, QueueSetup, TrafficConfig
from simulator.errors import (
    InterfaceNotFound,
    MemberExists,
    NoSuchQueue,
    NotAMember,
    NotDynamic,
)
from simulator.events import Event
from simulator.members import member_bucket
from simulator.replay import Trace, load_trace

START = 1795696000.0
"""A whole second, so int() of model times behaves like the lab's time_t maths."""

QUEUE_EVENTS = frozenset(
    {
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "AgentCalled",
        "AgentRingNoAnswer",
        "AgentConnect",
        "AgentComplete",
        "QueueMemberStatus",
        "QueueMemberPause",
        "QueueMemberAdded",
        "QueueMemberRemoved",
        "QueueMemberPenalty",
    }
)
COMPARED = (
    "Channel",
    "DestChannel",
    "Queue",
    "MemberName",
    "Interface",
    "Membership",
    "Penalty",
    "Status",
    "InCall",
    "CallsTaken",
    "Paused",
    "PausedReason",
    "Position",
    "Count",
    "OriginalPosition",
    "HoldTime",
    "RingTime",
    "TalkTime",
    "Reason",
)


class Clock:
    """A clock that only moves when told to."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def lab(**kwargs: Any) -> CallCentre:
    return CallCentre(clock=Clock(), seed=7, **kwargs)


def queue_sequence(messages: list[Event] | list[AmiMessageDict]) -> list[dict[str, Any]]:
    """The queue events with the fields that do not depend on wall-clock time."""
    return [
        {"Event": m["Event"], **{k: m[k] for k in COMPARED if k in m}}
        for m in messages
        if m.get("Event") in QUEUE_EVENTS
    ]


def trace_events(name: str, first: int = 0, last: int | None = None) -> list[AmiMessageDict]:
    """Unsolicited events of a trace recorded between two ``.jsonl`` lines (inclusive)."""
    trace = load_trace(name)
    end = last if last is not None else len(trace.messages)
    return [
        e for e, line in zip(trace.events, trace.event_lines, strict=True) if first <= line <= end
    ]


def recorded_orders() -> dict[str, list[str]]:
    """Field order of every event type seen in the traces (first occurrence)."""
    orders: dict[str, list[str]] = {}
    for name in ("b_single_call", "c_ringnoanswer", "d_abandon", "e_member_admin"):
        for event in load_trace(name).events:
            # Caller-less AgentComplete is a known variant; compare the full one.
            if event.get("Event") == "AgentComplete" and "Channel" not in event:
                continue
            orders.setdefault(str(event["Event"]), list(event))
    return orders


def test_lab_at_rest_matches_a_startup() -> None:
    expected = Trace.load("a_startup").lists_of("QueueStatus")[0]
    model = lab()
    ours = model.queue_status()
    assert [list(item) for item in ours] == [list(item) for item in expected.plain_items()]
    for mine, theirs in zip(ours, expected.plain_items(), strict=True):
        assert {k: v for k, v in mine.items() if k != "LoginTime"} == {
            k: v for k, v in theirs.items() if k != "LoginTime"
        }


def test_one_answered_call_replays_b_single_call() -> None:
    model = lab()
    model.originate("sales", caller_num="5550001", caller_name="Customer One", talk=6)
    model.run_for(15)
    events = model.drain()
    assert queue_sequence(events) == queue_sequence(trace_events("b_single_call"))
    orders = recorded_orders()
    for event in events:
        assert list(event) == orders[event["Event"]], event["Event"]
    assert [e["Event"] for e in events if e["Event"] in {"Newchannel", "Hangup"}] == [
        "Newchannel"
    ] * 4 + ["Hangup"] * 4
    truth = model.truth()
    assert truth["channels"] == {}
    sales = truth["queues"]["sales"]
    assert (sales["completed"], sales["holdtime"], sales["talktime"]) == (1, 2, 6)
    assert truth["members"]["sales"]["Local/1001@agents/n"]["calls_taken"] == 1


def test_ring_no_answer_and_autopause_like_c_ringnoanswer() -> None:
    model = lab()
    model.originate("support", caller_num="5550002", caller_name="Customer Two", talk=5)
    model.run_for(20)
    model.queue_pause("Local/1005@agents/n", False, queue="support")
    recorded = trace_events("c_ringnoanswer", last=167)
    assert queue_sequence(model.drain()) == queue_sequence(recorded)
    rna = next(e for e in recorded if e["Event"] == "AgentRingNoAnswer")
    assert rna["RingTime"] == "5000"  # milliseconds, unlike AgentConnect's seconds


def test_abandon_like_d_abandon() -> None:
    model = lab()
    model.queue_pause("Local/1001@agents/n", True, queue="sales", reason="lunch")
    model.queue_pause("Local/1002@agents/n", True, queue="sales", reason="training")
    model.originate("sales", caller_num="5550010", caller_name="Impatient One", patience=5)
    model.run_for(7)
    events = model.drain()
    assert queue_sequence(events) == queue_sequence(trace_events("d_abandon", last=92))
    names = [e["Event"] for e in events]
    assert names.index("QueueCallerLeave") == names.index("QueueCallerAbandon") + 1
    assert "AgentRingNoAnswer" not in names
    params = model.queue_status("sales")[0]
    assert (params["Abandoned"], params["ServicelevelPerf"], params["ServicelevelPerf2"]) == (
        "1",
        "0.0",
        "100.0",
    )


def test_unpause_with_reason_reports_it_but_stores_none() -> None:
    model = lab()
    model.run_for(3)
    model.queue_pause("Local/1002@agents/n", True, queue="sales", reason="training")
    model.run_for(5)
    model.queue_pause("Local/1002@agents/n", False, queue="sales", reason="back")
    pause, unpause = (e for e in model.drain() if e["Event"] == "QueueMemberPause")
    assert (pause["Paused"], pause["PausedReason"]) == ("1", "training")
    assert (unpause["Paused"], unpause["PausedReason"]) == ("0", "back")
    assert unpause["LastPause"] == pause["LastPause"] == str(int(START) + 3)
    bob = model.truth()["members"]["sales"]["Local/1002@agents/n"]
    assert (bob["paused"], bob["paused_reason"]) == (0, "")


def test_a_member_of_two_queues_gets_one_status_per_queue() -> None:
    model = lab()
    model.queue_pause("Local/1001@agents/n", True, queue="sales")
    model.drain()
    model.originate("sales", talk=4)  # Alice paused: Bob is next
    model.run_for(12)
    statuses = [
        (e["Queue"], e["Status"], e["InCall"], e["CallsTaken"])
        for e in model.drain()
        if e["Event"] == "QueueMemberStatus"
    ]
    # Bob rings, talks and hangs up: support (penalty 1) and sales each get the change.
    assert statuses == [
        ("support", "6", "0", "0"),
        ("sales", "6", "0", "0"),
        ("support", "2", "0", "0"),
        ("sales", "2", "1", "0"),
        ("support", "1", "0", "1"),
        ("sales", "1", "0", "1"),
    ]
    members = model.truth()["members"]
    assert members["support"]["Local/1002@agents/n"]["calls_taken"] == 1  # shared_lastcall


def test_rrmemory_wrapup_and_hold_time_average_like_c_ringnoanswer_part_two() -> None:
    model = lab()
    for n in range(3):
        model.originate("sales", caller_num=f"555000{3 + n}", patience=90, talk=6.5)
        model.run_for(1)
    model.run_for(40)
    events = model.drain()
    called = [e["MemberName"] for e in events if e["Event"] == "AgentCalled"]
    assert called == ["Alice", "Bob", "Carol", "Alice"]
    rna = [e for e in events if e["Event"] == "AgentRingNoAnswer"]
    assert [(e["MemberName"], e["RingTime"]) for e in rna] == [("Carol", "8000")]
    holds = [int(e["HoldTime"]) for e in events if e["Event"] == "AgentConnect"]
    # Carol rings 8 s for nothing, retry 1 s; Alice is then out of her 2 s wrap-up.
    assert holds == [2, 3, 11]
    sales = model.truth()["queues"]["sales"]
    # c_ringnoanswer's final sales figures: the second answer (no call finished
    # yet) resets the average, the third is folded in by 1/4.
    assert (sales["completed"], sales["holdtime"], sales["talktime"]) == (3, 5, 7)


def test_ringall_rings_everyone_and_hangs_up_the_others() -> None:
    model = lab()
    model.queue_add("billing", "Local/1006@agents/n", name="Frank", state_interface="Custom:1006")
    model.queue_add("billing", "Local/1001@agents/n", name="Alice", state_interface="Custom:1001")
    model.drain()
    model.originate("billing", talk=3)
    model.run_for(10)
    events = model.drain()
    assert sorted(e["MemberName"] for e in events if e["Event"] == "AgentCalled") == [
        "Alice",
        "Frank",
    ]
    connect = next(e for e in events if e["Event"] == "AgentConnect")
    # Both answer after 2 s: the first rung wins, and app_queue's member hash table
    # lists Local/1001 (bucket 8) before Local/1006 (bucket 21), whatever the add order.
    assert connect["MemberName"] == "Alice"
    assert [m["Name"] for m in model.queue_status("billing")[1:]] == ["Alice", "Frank"]
    assert Counter(e["Event"] for e in events)["Hangup"] == 6
    assert model.truth()["channels"] == {}


def test_dynamic_members_like_e_member_admin() -> None:
    model = lab()
    model.queue_add("billing", "Local/1006@agents/n", name="Frank", state_interface="Custom:1006")
    model.queue_add(
        "billing", "Local/1007@agents/n", name="Grace", state_interface="Custom:1007", penalty=1
    )
    model.queue_add(
        "support",
        "Local/1006@agents/n",
        name="Frank",
        state_interface="Custom:1006",
        penalty=2,
        paused=True,
        reason="onboarding",
    )
    with pytest.raises(MemberExists):
        model.queue_add("billing", "Local/1006@agents/n")
    model.queue_penalty("Local/1006@agents/n", 3, queue="billing")
    model.queue_pause("Local/1006@agents/n", True, queue="billing", reason="coffee")
    recorded = load_trace("e_member_admin").lists_of("QueueStatus")[0].plain_items()
    ours = model.queue_status("billing")
    assert [list(i) for i in ours] == [list(i) for i in recorded]
    assert [
        (i.get("Name"), i.get("Status"), i.get("Paused"), i.get("PausedReason")) for i in ours
    ] == [
        (i.get("Name"), i.get("Status"), i.get("Paused"), i.get("PausedReason")) for i in recorded
    ]
    model.originate("billing", caller_num="5550020", caller_name="Billing Customer")
    model.run_for(3.5)  # Frank paused, Grace unavailable: the caller waits
    waiting = load_trace("e_member_admin").lists_of("QueueStatus")[1].plain_items()
    ours = model.queue_status("billing")
    assert [list(i) for i in ours] == [list(i) for i in waiting]
    assert (ours[0]["Calls"], ours[-1]["Wait"]) == (waiting[0]["Calls"], waiting[-1]["Wait"])
    added = [e for e in model.drain() if e["Event"] == "QueueMemberAdded"]
    assert [(e["MemberName"], e["Status"], e["Membership"]) for e in added] == [
        ("Frank", "1", "dynamic"),
        ("Grace", "5", "dynamic"),
        ("Frank", "1", "dynamic"),
    ]
    model.set_device_state("Custom:1007", "NOT_INUSE")
    # Grace's phone registers, and the waiting caller rings her at once.
    statuses = [e for e in model.drain() if e["Event"] == "QueueMemberStatus"]
    assert [(e["MemberName"], e["Status"]) for e in statuses] == [("Grace", "1"), ("Grace", "6")]
    model.queue_penalty("Local/1002@agents/n", 2)
    assert [e["Queue"] for e in model.drain() if e["Event"] == "QueueMemberPenalty"] == [
        "support",
        "sales",
    ]
    with pytest.raises(NotAMember):
        model.queue_remove("billing", "Local/1999@agents/n")
    with pytest.raises(NotDynamic):
        model.queue_remove("sales", "Local/1001@agents/n")
    with pytest.raises(InterfaceNotFound):
        model.queue_pause("Local/1999@agents/n", True, queue="sales")
    with pytest.raises(NoSuchQueue):
        model.queue_add("nope", "Local/1001@agents/n")
    model.queue_remove("support", "Local/1006@agents/n")
    removed = [e for e in model.drain() if e["Event"] == "QueueMemberRemoved"]
    assert [(e["Queue"], e["MemberName"]) for e in removed] == [("support", "Frank")]


def test_completed_only_counts_when_the_member_is_still_in_a_queue() -> None:
    model = lab()
    model.queue_add("billing", "Local/1006@agents/n", name="Frank", state_interface="Custom:1006")
    model.originate("billing", talk=5)
    model.run_for(3)
    model.queue_remove("billing", "Local/1006@agents/n")
    model.run_for(10)
    events = model.drain()
    assert [e["Event"] for e in events if e["Event"] == "AgentComplete"] == ["AgentComplete"]
    assert model.truth()["queues"]["billing"]["completed"] == 0


@pytest.mark.parametrize("seed", [1, 2])
def test_generated_load_keeps_its_books(seed: int) -> None:
    traffic = TrafficConfig(arrival_rate=2.0, mean_talk=20, mean_patience=40, pause_rate=6)
    config = CentreConfig.generated(40, 6, traffic=traffic, seed=seed)
    model = CallCentre(config, clock=Clock(), seed=seed)
    model.run_for(900)
    events = model.drain()
    names = Counter(e["Event"] for e in events)
    assert names["QueueCallerJoin"] > 1000
    assert names["AgentRingNoAnswer"] > 0 and names["QueueMemberPause"] > 0
    waiting = sum(q["calls_waiting"] for q in model.truth()["queues"].values())
    assert names["QueueCallerJoin"] - names["QueueCallerLeave"] == waiting
    assert names["Newchannel"] - names["Hangup"] == len(model.truth()["channels"])
    queues = model.truth()["queues"]
    assert sum(q["abandoned"] for q in queues.values()) == names["QueueCallerAbandon"]
    assert sum(q["completed"] for q in queues.values()) == names["AgentComplete"]
    orders = recorded_orders()
    for event in events:
        if event["Event"] in orders:
            assert list(event) == orders[event["Event"]], event["Event"]


def test_same_seed_same_traffic() -> None:
    traffic = TrafficConfig(arrival_rate=1.0, pause_rate=4)

    def run() -> list[Event]:
        model = CallCentre(CentreConfig.lab(traffic), clock=Clock(), seed=42)
        model.run_for(120)
        return model.drain()

    assert run() == run()


def test_step_and_next_due_drive_virtual_time() -> None:
    model = lab()
    assert model.next_due() is None and not model.step()
    model.originate("support", talk=1)
    due = model.next_due()
    assert due == START + 0.5
    assert model.step() and model.now == due


def test_snapshots_list_waiting_callers_and_channels() -> None:
    model = lab()
    model.set_device_state("Custom:1005", DeviceState.UNAVAILABLE)
    model.queue_pause("Local/1004@agents/n", True)
    model.queue_pause("Local/1002@agents/n", True)
    model.originate("support", caller_num="5550099", caller_name="Waiting Person")
    model.run_for(4)
    entry = model.queue_status("support")[-1]
    assert entry["Event"] == "QueueEntry"
    assert (entry["Position"], entry["CallerIDNum"], entry["Wait"]) == ("1", "5550099", "4")
    summary = model.queue_summary("support")[0]
    assert (summary["LoggedIn"], summary["Available"], summary["Callers"]) == ("2", "0", "1")
    assert summary["LongestHoldTime"] == "4"
    channels = model.core_show_channels()
    assert [c["Channel"] for c in channels] == [
        "Local/support@callers-00000000;1",
        "Local/support@callers-00000000;2",
    ]
    assert channels[1]["Application"] == "Queue"
    assert ("Queue:support_pause_Local/1004@agents/n", "INUSE") in model.device_states()


def test_unknown_strategy_is_rejected() -> None:
    with pytest.raises(ValueError, match="strategy"):
        QueueSetup("x", "sometimes")


def test_realtime_members_like_h_realtime() -> None:
    def agent(ext: str, name: str, penalty: int = 0, **extra: Any) -> MemberSetup:
        return MemberSetup(
            f"Local/{ext}@agents/n", name, f"Custom:{ext}", penalty, "realtime", **extra
        )

    rtq = QueueSetup(
        "rtq",
        "rrmemory",
        timeout=8,
        retry=1,
        servicelevel=30,
        members=(
            agent("1004", "Dave RT", 1, paused=True, paused_reason="training", wrapuptime=5),
            agent("1001", "Alice RT"),
            agent("1007", "Grace RT"),
        ),
    )
    model = CallCentre(CentreConfig((rtq,), CentreConfig.lab().phones), clock=Clock())
    recorded = load_trace("h_realtime").lists_of("QueueStatus")[0].plain_items()
    assert without_times(model.queue_status()) == without_times(recorded)
    summary = load_trace("h_realtime").lists_of("QueueSummary")[0].plain_items()
    assert model.queue_summary() == summary
    model.originate("rtq", talk=5)
    model.run_for(10)
    statuses = [e for e in model.drain() if e["Event"] == "QueueMemberStatus"]
    assert {e["Membership"] for e in statuses} == {"realtime"}
    assert [e["MemberName"] for e in statuses] == ["Alice RT"] * 3


def test_member_order_is_app_queues_hash_table_order() -> None:
    """Non-linear queues list members bucket by bucket (member_hash_fn % 37), as recorded."""
    items = load_trace("h_realtime").lists_of("QueueStatus")[-1].items
    rtq = [m["Location"] for m in items if m["Event"] == "QueueMember"]
    sales = [i["Location"] for i in lab().queue_status("sales")[1:]]
    assert len(rtq) == 4 and len(sales) == 3
    for locations in (rtq, sales):
        buckets = [member_bucket(str(location)) for location in locations]
        assert buckets == sorted(buckets)
    assert [member_bucket(f"Local/100{n}@agents/n") for n in (1, 4, 6, 7)] == [8, 1, 21, 31]


def without_times(items: list[Event] | list[AmiMessageDict]) -> list[dict[str, Any]]:
    return [{k: v for k, v in i.items() if k not in ("LoginTime", "LastPause")} for i in items]


def test_quirks_reproduce_asterisks_end_of_call_races() -> None:
    model = CallCentre(dataclasses.replace(CentreConfig.lab(), quirks=1.0), clock=Clock())
    model.queue_pause("Local/1001@agents/n", True, queue="sales")
    model.originate("sales", talk=4)  # Bob, who also serves support
    model.run_for(12)
    events = model.drain()
    complete = next(e for e in events if e["Event"] == "AgentComplete")
    assert list(complete) == [
        "Event",
        "Privilege",
        "Queue",
        "Interface",
        "MemberName",
        "HoldTime",
        "TalkTime",
        "Reason",
    ]
    idle = [
        (e["Queue"], e["CallsTaken"])
        for e in events
        if e["Event"] == "QueueMemberStatus" and e["Status"] == "1"
    ]
    assert idle == [("support", "0"), ("sales", "1")]  # c_ringnoanswer's stale support count
    assert model.truth()["members"]["support"]["Local/1002@agents/n"]["calls_taken"] == 1
