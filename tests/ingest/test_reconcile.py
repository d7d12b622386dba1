"""The pure reconciliation planner: Asterisk's snapshot + our state → corrections."""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any

from ingest.keys import Kind
from ingest.patches import Change, JsonObject, Patch, merge
from ingest.reconcile import AsteriskSnapshot, corrections_by_kind, plan_reconcile
from ingest.runners.file_runner import list_answers
from ingest.store import Snapshot
from ingest.traces import load_jsonl, load_sent

NOW = 1_795_696_400_000
EMPTY = Snapshot(version=0, operators=[], queues=[], channels=[])
_ID = {"operator": "memberId", "queue": "name", "channel": "name"}


@cache
def _answers(trace: str) -> dict[str, AsteriskSnapshot]:
    """The snapshots of a trace's QueueStatus answers, by ActionID."""
    answers = list_answers(load_jsonl(trace), load_sent(trace))
    snapshots = {a.action_id: a.snapshot() for a in answers}
    return {key: value for key, value in snapshots.items() if value is not None}


def startup() -> AsteriskSnapshot:
    """a_startup's first QueueStatus: the lab as Asterisk starts it."""
    return _answers("a_startup")["drv-2"]


def applied(changes: list[Change], state: Snapshot = EMPTY) -> Snapshot:
    """What the store would hold after `changes` (merge only; enough for the planner)."""
    entities: dict[str, dict[str, JsonObject]] = {
        "operator": {e["memberId"]: e for e in state.operators},
        "queue": {e["name"]: e for e in state.queues},
        "channel": {e["name"]: e for e in state.channels},
    }
    for change in changes:
        assert isinstance(change, Patch)
        table = entities[change.kind]
        if change.delete:
            table.pop(change.id, None)
            continue
        merged = merge(table.get(change.id, {}), change.set)
        merged[_ID[change.kind]] = change.id
        table[change.id] = merged
    return Snapshot(
        version=state.version + 1,
        operators=list(entities["operator"].values()),
        queues=list(entities["queue"].values()),
        channels=list(entities["channel"].values()),
    )


def patch_of(changes: list[Change], kind: Kind, entity_id: str) -> Patch:
    found = [c for c in changes if isinstance(c, Patch) and (c.kind, c.id) == (kind, entity_id)]
    assert len(found) == 1, (kind, entity_id, changes)
    return found[0]


def _channel_item(name: str, *, duration: str = "00:00:05", state: str = "6") -> dict[str, str]:
    return {
        "Event": "CoreShowChannel",
        "Channel": name,
        "ChannelState": state,
        "ChannelStateDesc": "Up",
        "CallerIDNum": "5550001",
        "CallerIDName": "Customer One",
        "ConnectedLineNum": "<unknown>",
        "ConnectedLineName": "<unknown>",
        "Language": "en",
        "AccountCode": "",
        "Context": "callers",
        "Exten": "sales",
        "Priority": "1",
        "Uniqueid": f"uid-{name}",
        "Linkedid": "1795696328.0",
        "Application": "Queue",
        "ApplicationData": "sales",
        "Duration": duration,
        "BridgeId": "",
        "ActionID": "x",
    }


# --- building the state -------------------------------------------------------------


def test_from_nothing_one_patch_per_entity() -> None:
    plan = plan_reconcile(startup(), EMPTY, NOW)
    assert corrections_by_kind(plan) == {"queue": 3, "operator": 5}
    bob = patch_of(plan, "operator", "Local/1002@agents/n")
    assert set(bob.set["queues"]) == {"sales", "support"}
    assert bob.set["status"] == "idle"
    assert bob.set["stateInterface"] == "Custom:1002"
    assert bob.set["queues"]["support"] == {
        "queueName": "support",
        "memberName": "Bob",
        "penalty": 1,
        "paused": False,
        "pausedReason": "",
        "membership": "static",
        "lastPause": 0,
        "loginTime": 1795696325,
        "inCall": False,
        "wrapupTime": 0,
        "callsTaken": 0,
        "lastCall": 0,
    }
    sales = patch_of(plan, "queue", "sales")
    assert sales.set == {
        "strategy": "rrmemory",
        "maxLen": 0,
        "holdTime": 0,
        "talkTime": 0,
        "completed": 0,
        "abandoned": 0,
        "serviceLevel": 20,
        "serviceLevelPerf": 0.0,
        "serviceLevelPerf2": 0.0,
        "completedInServiceLevel": 0,
        "abandonedInServiceLevel": 0,
        "weight": 0,
        "callers": {},
    }


def test_calls_within_the_service_level_are_recovered_from_the_percentages() -> None:
    # billing: 1 completed within 60 s; sales: 2 abandoned within 20 s.
    billing = patch_of(
        plan_reconcile(_answers("e_member_admin")["drv-22"], EMPTY, NOW), "queue", "billing"
    )
    assert (billing.set["completedInServiceLevel"], billing.set["abandonedInServiceLevel"]) == (
        1,
        0,
    )
    sales = patch_of(plan_reconcile(_answers("d_abandon")["drv-10"], EMPTY, NOW), "queue", "sales")
    assert (sales.set["serviceLevelPerf"], sales.set["serviceLevelPerf2"]) == (0.0, 100.0)
    assert (sales.set["completedInServiceLevel"], sales.set["abandonedInServiceLevel"]) == (0, 2)


def test_the_same_snapshot_twice_plans_nothing_the_second_time() -> None:
    state = applied(plan_reconcile(startup(), EMPTY, NOW))
    assert plan_reconcile(startup(), state, NOW + 60_000) == []


# --- correcting ---------------------------------------------------------------------


def test_wrong_fields_are_corrected_and_strangers_removed() -> None:
    state = applied(plan_reconcile(startup(), EMPTY, NOW))
    wrong = applied(
        [
            Patch("operator", "Local/1001@agents/n", {"queues": {"sales": {"paused": True}}}),
            Patch("operator", "PJSIP/9999", {"queues": {"sales": {"penalty": 0}}}),
            Patch("operator", "PJSIP/nobody", {"status": "idle"}),
            Patch("queue", "sales", {"completed": 99, "callers": {"ghost": {"position": 1}}}),
            Patch("queue", "ghost", {"strategy": "ringall"}),
        ],
        state,
    )
    plan = plan_reconcile(startup(), wrong, NOW)
    assert {(c.kind, c.id, c.delete) for c in plan if isinstance(c, Patch)} == {
        ("operator", "Local/1001@agents/n", False),
        ("operator", "PJSIP/9999", True),
        ("operator", "PJSIP/nobody", True),
        ("queue", "sales", False),
        ("queue", "ghost", True),
    }
    sales = patch_of(plan, "queue", "sales")
    assert sales.set["completed"] == 0
    assert sales.set["callers"] == {"ghost": None}
    assert plan_reconcile(startup(), applied(plan, wrong), NOW) == []


def test_callers_keep_their_join_time_new_ones_date_from_their_wait() -> None:
    with_caller = _answers("e_member_admin")["drv-10"]  # billing, one caller waiting 3 s
    plan = plan_reconcile(with_caller, EMPTY, NOW)
    caller = patch_of(plan, "queue", "billing").set["callers"]["1795696405.1"]
    assert caller == {
        "position": 1,
        "channel": "Local/billing@callers-00000000;2",
        "uniqueId": "1795696405.1",
        "callerIdNum": "5550020",
        "callerIdName": "Billing Customer",
        "joinedAt": NOW - 3_000,
    }
    state = applied(
        [Patch("queue", "billing", {"callers": {"1795696405.1": {"joinedAt": 123}}})],
        applied(plan),
    )
    # Known callers keep the join time we saw: nothing to correct.
    assert plan_reconcile(with_caller, state, NOW + 10_000) == []


def test_a_realtime_membership_stays_realtime() -> None:
    realtime = _answers("h_realtime")["drv-2"]
    plan = plan_reconcile(realtime, EMPTY, NOW)
    alice = patch_of(plan, "operator", "Local/1001@agents/n")
    assert alice.set["queues"]["rtq"]["membership"] == "static"  # all QueueStatus can say
    # An event (or the database) said realtime: a snapshot does not downgrade it.
    state = applied(
        [Patch("operator", "Local/1001@agents/n", {"queues": {"rtq": {"membership": "realtime"}}})],
        applied(plan),
    )
    assert plan_reconcile(realtime, state, NOW) == []


def test_mid_call_the_counts_after_the_call_are_staged() -> None:
    snapshot = startup()
    # Bob in a sales call: InCall only in sales, the device in use in both queues.
    rows = tuple(
        type(row)(member=_replace(row.member, in_call=row.member.queue == "sales", status=2))
        if row.member.interface == "Local/1002@agents/n"
        else row
        for row in snapshot.members
    )
    plan = plan_reconcile(AsteriskSnapshot(params=snapshot.params, members=rows), EMPTY, NOW)
    bob = patch_of(plan, "operator", "Local/1002@agents/n")
    assert bob.set["status"] == "in_call"
    # Staged from the reported counts, kept out of the operator's JSON (see reducer.agents).
    assert sorted(bob.copy) == [
        (("queues", "sales", "callsTaken"), ("callsAfterCall", "sales"), 1),
        (("queues", "support", "callsTaken"), ("callsAfterCall", "support"), 1),
    ]
    assert all("callsAfterCall" not in m for m in bob.set["queues"].values())
    assert list(patch_of(plan, "operator", "Local/1001@agents/n").copy) == []


def _replace(member: Any, **changes: Any) -> Any:
    return replace(member, **changes)


def test_an_unknown_member_state_is_taken_from_the_device_list() -> None:
    snapshot = startup()
    rows = tuple(
        type(row)(member=_replace(row.member, status=0))
        if row.member.interface == "Local/1001@agents/n"
        else row
        for row in snapshot.members
    )
    devices = _answers_devices()
    plan = plan_reconcile(
        AsteriskSnapshot(params=snapshot.params, members=rows, device_states=devices), EMPTY, NOW
    )
    assert patch_of(plan, "operator", "Local/1001@agents/n").set["status"] == "idle"
    plan = plan_reconcile(AsteriskSnapshot(params=snapshot.params, members=rows), EMPTY, NOW)
    assert patch_of(plan, "operator", "Local/1001@agents/n").set["status"] == "unknown"


def _answers_devices() -> Any:
    answer = next(
        a
        for a in list_answers(load_jsonl("a_startup"), load_sent("a_startup"))
        if a.complete == "DeviceStateListComplete"
    )
    snapshot = AsteriskSnapshot.from_messages((), device_states=answer.items)
    assert snapshot.device_states is not None and len(snapshot.device_states) == 16
    return snapshot.device_states


# --- scope --------------------------------------------------------------------------


def test_a_queue_filtered_status_touches_that_queue_only() -> None:
    state = applied(
        [
            Patch("operator", "PJSIP/onlysales", {"queues": {"sales": {}}}),
            Patch("operator", "PJSIP/both", {"queues": {"sales": {}, "support": {}}}),
            Patch("operator", "PJSIP/noqueue", {"status": "idle"}),
        ],
        applied(plan_reconcile(startup(), EMPTY, NOW)),
    )
    sales_only = _answers("a_startup")["drv-4"]
    assert sales_only.queue == "sales"
    plan = plan_reconcile(sales_only, state, NOW)
    assert {(c.kind, c.id, c.delete) for c in plan if isinstance(c, Patch)} == {
        ("operator", "PJSIP/onlysales", True),
        ("operator", "PJSIP/both", False),
    }
    assert patch_of(plan, "operator", "PJSIP/both").set == {"queues": {"sales": None}}


def test_a_member_filtered_status_touches_that_member_only() -> None:
    state = applied(
        [
            Patch("operator", "Local/1002@agents/n", {"queues": {"support": {"penalty": 5}}}),
            Patch("operator", "Local/1004@agents/n", {"queues": {"support": {"penalty": 5}}}),
        ],
        applied(plan_reconcile(startup(), EMPTY, NOW)),
    )
    bob_in_support = _answers("a_startup")["drv-5"]
    assert (bob_in_support.queue, bob_in_support.member) == ("support", "Local/1002@agents/n")
    plan = plan_reconcile(bob_in_support, state, NOW)
    assert [(c.kind, c.id) for c in plan if isinstance(c, Patch)] == [
        ("operator", "Local/1002@agents/n")
    ]


# --- channels -----------------------------------------------------------------------


def test_channels_listed_created_unlisted_removed() -> None:
    state = applied([Patch("channel", "Local/gone;1", {"state": "up"})])
    snapshot = AsteriskSnapshot.from_messages(
        (),
        channels=[_channel_item("Local/sales@callers-1;2", duration="00:01:05")],
        has_queue_status=False,
    )
    plan = plan_reconcile(snapshot, state, NOW)
    assert {(c.kind, c.id, c.delete) for c in plan if isinstance(c, Patch)} == {
        ("channel", "Local/sales@callers-1;2", False),
        ("channel", "Local/gone;1", True),
    }
    created = patch_of(plan, "channel", "Local/sales@callers-1;2").set
    assert created["createdAt"] == NOW - 65_000
    assert created["state"] == "up"
    assert created["connectedLineNum"] is None
    # Not asked for channels: none touched; a channels-only snapshot touches no queue.
    assert plan_reconcile(AsteriskSnapshot(has_queue_status=False), state, NOW) == []
    assert all(c.kind == "channel" for c in plan if isinstance(c, Patch))
    assert plan_reconcile(snapshot, applied(plan, state), NOW) == []
