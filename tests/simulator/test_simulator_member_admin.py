"""The supervisor actions over TCP, field by field against e_member_admin and h_realtime.

The recorded actions are sent at their recorded times (model time follows the
``.sent.jsonl`` timestamps), and what comes back is compared with what
Asterisk 22.10.1 sent: every response, every member event, every pause
device change and the OriginateResponse. Not compared: ``LoginTime`` of the
lab's static members (loaded a second before the recording started), the
``LastCall`` of the one call (the lab's ended two seconds later),
``Queue:<q>_avail``/``Queue:<q>`` device states (not modelled) and the order of
a phone's DeviceStateChange relative to its QueueMemberStatus events (a race in
Asterisk: both orders occur in the traces).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from simulator.centre import CallCentre
from simulator.config import CentreConfig, MemberSetup, QueueSetup
from simulator.replay import load_trace
from simulator.server import AmiSimulator
from tests.support.ami_client import Clients, compared, run_recorded, sent_at


@pytest.fixture
async def lab_sim() -> AsyncIterator[AmiSimulator]:
    start = float(int(sent_at("e_member_admin")[0][0]))
    model = CallCentre(clock=lambda: start, seed=3)
    async with AmiSimulator(secret="secret", model=model, realtime=False) as server:
        yield server


async def test_e_member_admin_field_by_field(lab_sim: AmiSimulator, clients: Clients) -> None:
    client = await clients.connect(lab_sim.port)
    await client.login()
    # LastCall: the lab's call ended 2 s later than the model's (Local channel overhead).
    ours = compared(await run_recorded(lab_sim, client, "e_member_admin"), skip=("LastCall",))
    theirs = compared(load_trace("e_member_admin").messages[1:], skip=("LastCall",))
    # The static members were loaded at 1795696404, a second before the lab's recording.
    for event in theirs["member events"]:
        if event["Membership"] == "static":
            event["LoginTime"] = str(int(sent_at("e_member_admin")[0][0]))
    assert [len(theirs[kind]) for kind in theirs] == [24, 22, 8, 1]
    assert ours == theirs


async def test_pause_everywhere_changes_pause_devices_only_where_the_state_changes(
    lab_sim: AmiSimulator, clients: Clients
) -> None:
    client = await clients.connect(lab_sim.port)
    await client.login()
    for queue, paused in (("support", "true"), ("billing", "false")):
        action = {
            "Action": "QueueAdd",
            "ActionID": f"add-{queue}",
            "Queue": queue,
            "Interface": "Local/1006@agents/n",
            "MemberName": "Frank",
            "StateInterface": "Custom:1006",
            "Paused": paused,
            "Reason": "onboarding",
        }
        await client.action(action)
    await client.pending()
    pause = {"Action": "QueuePause", "Interface": "Local/1006@agents/n", "Paused": "true"}
    reply = await client.action({**pause, "ActionID": "p", "Reason": "break"})
    events = await client.pending()
    assert reply[-1]["Message"] == "Interface paused successfully"
    # One QueueMemberPause per queue; support's pause device was INUSE already.
    assert [(e["Event"], e.get("Queue", e.get("Device"))) for e in events] == [
        ("DeviceStateChange", "Queue:billing_pause_Local/1006@agents/n"),
        ("QueueMemberPause", "billing"),
        ("QueueMemberPause", "support"),
    ]
    assert [e["PausedReason"] for e in events if e["Event"] == "QueueMemberPause"] == [
        "break",
        "break",
    ]


async def test_removing_a_paused_member_resets_its_pause_device(
    lab_sim: AmiSimulator, clients: Clients
) -> None:
    client = await clients.connect(lab_sim.port)
    await client.login()
    add = {"Action": "QueueAdd", "Queue": "billing", "Interface": "PJSIP/1020"}
    await client.action({**add, "ActionID": "a", "Paused": "yes", "Wrapuptime": "15"})
    added = await client.pending()
    assert [(e["Event"], e.get("State"), e.get("Wrapuptime")) for e in added] == [
        ("DeviceStateChange", "INUSE", None),
        ("QueueMemberAdded", None, "15"),
    ]
    assert added[1]["MemberName"] == "PJSIP/1020" and added[1]["StateInterface"] == "PJSIP/1020"
    remove = {
        "Action": "QueueRemove",
        "ActionID": "r",
        "Queue": "billing",
        "Interface": "PJSIP/1020",
    }
    [reply] = await client.action(remove)
    assert reply == {
        "Response": "Success",
        "ActionID": "r",
        "Message": "Removed interface from queue",
    }
    removed = await client.pending()
    assert [(e["Event"], e.get("Device"), e.get("State")) for e in removed] == [
        ("QueueMemberRemoved", None, None),
        ("DeviceStateChange", "Queue:billing_pause_PJSIP/1020", "NOT_INUSE"),
    ]
    # Asterisk's device-state cache keeps the entry: DeviceStateList still lists it.
    listing = await client.listing({"Action": "DeviceStateList", "ActionID": "d"})
    states = {m["Device"]: m["State"] for m in listing[1:-1]}
    assert states["Queue:billing_pause_PJSIP/1020"] == "NOT_INUSE"


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (
            {"Action": "QueuePenalty", "Interface": "Local/1001@agents/n", "Penalty": "-1"},
            "Invalid interface, queuename or penalty",
        ),
        (
            {"Action": "QueuePenalty", "Interface": "Local/1999@agents/n", "Penalty": "1"},
            "Invalid interface, queuename or penalty",
        ),
        ({"Action": "QueuePenalty", "Interface": "Local/1001@agents/n"}, None),
        (
            {
                "Action": "QueueMemberRingInUse",
                "Interface": "Local/1001@agents/n",
                "RingInUse": "x",
            },
            "'RingInUse' parameter must be a truth value (yes/no, on/off, 0/1, etc)",
        ),
        ({"Action": "QueueAdd", "Interface": "Local/1001@agents/n"}, "'Queue' not specified."),
        ({"Action": "QueueAdd", "Queue": "sales"}, "'Interface' not specified."),
        (
            {"Action": "QueueAdd", "Queue": "nope", "Interface": "Local/1001@agents/n"},
            "Unable to add interface to queue: No such queue",
        ),
        (
            {"Action": "QueueRemove", "Queue": "nope", "Interface": "Local/1001@agents/n"},
            "Unable to remove interface from queue: No such queue",
        ),
        ({"Action": "QueueRemove", "Queue": "sales"}, "Need 'Queue' and 'Interface' parameters."),
        ({"Action": "QueuePause", "Interface": "Local/1001@agents/n"}, None),
    ],
)
async def test_refusals_are_worded_as_app_queue_words_them(
    lab_sim: AmiSimulator, clients: Clients, action: dict[str, str], message: str | None
) -> None:
    client = await clients.connect(lab_sim.port)
    await client.login()
    [reply] = await client.action({**action, "ActionID": "x"})
    needs = {
        "QueuePenalty": "Need 'Interface' and 'Penalty' parameters.",
        "QueuePause": "Need 'Interface' and 'Paused' parameters.",
    }
    assert reply == {
        "Response": "Error",
        "ActionID": "x",
        "Message": message or needs[action["Action"]],
    }
    assert await client.pending() == []  # a refused action sends no event


async def test_penalty_is_read_like_atoi(lab_sim: AmiSimulator, clients: Clients) -> None:
    client = await clients.connect(lab_sim.port)
    await client.login()
    penalty = {"Action": "QueuePenalty", "Interface": "Local/1001@agents/n", "Queue": "sales"}
    [reply] = await client.action({**penalty, "ActionID": "p", "Penalty": "4abc"})
    assert reply["Message"] == "Interface penalty set successfully"
    [event] = await client.pending()
    assert (event["Event"], event["Penalty"]) == ("QueueMemberPenalty", "4")


# --- realtime members: h_realtime -------------------------------------------------------


def rt_row(ext: str, name: str, penalty: int = 0, **extra: Any) -> MemberSetup:
    return MemberSetup(f"Local/{ext}@agents/n", name, f"Custom:{ext}", penalty, "realtime", **extra)


H_REALTIME_ROWS = (
    rt_row("1004", "Dave RT", 1, paused=True, paused_reason="training", wrapuptime=5),
    rt_row("1001", "Alice RT"),
    rt_row("1007", "Grace RT"),
)


def h_realtime_centre(start: float) -> CallCentre:
    """The lab plus its realtime queue rtq, as loaded at h_realtime's start."""
    lab = CentreConfig.lab()
    rtq = QueueSetup(
        "rtq", "rrmemory", timeout=8, retry=1, servicelevel=30, members=H_REALTIME_ROWS
    )
    return CallCentre(CentreConfig((rtq, *lab.queues), lab.phones), clock=lambda: start, seed=3)


async def test_h_realtime_pause_and_write_back(clients: Clients) -> None:
    """Realtime members' pause events say ``Membership: realtime``; the rows are updated
    as the trace's DB read-backs show (``db_after_pause``, ``db_after_unpause_dave``)."""
    start = float(int(sent_at("h_realtime")[0][0]))
    writes: list[tuple[str, str, dict[str, str]]] = []
    sim = AmiSimulator(
        secret="secret",
        model=h_realtime_centre(start),
        realtime=False,
        realtime_update=lambda q, i, fields: writes.append((q, i, dict(fields))),
    )
    async with sim:
        client = await clients.connect(sim.port)
        await client.login()
        ours = compared(await run_recorded(sim, client, "h_realtime"), skip=("LoginTime",))
    theirs = compared(load_trace("h_realtime").messages[1:], skip=("LoginTime",))
    # h_realtime's last QueueStatus also shows a row inserted behind Asterisk's back
    # (this test's source has none: see test_simulator_realtime).
    theirs["pause devices"] = [
        d for d in theirs["pause devices"] if d["Device"] != "Queue:rtq_pause_Local/1006@agents/n"
    ]
    assert [len(theirs[kind]) for kind in theirs] == [9, 8, 2, 1]
    assert ours == theirs
    assert writes == [
        ("rtq", "Local/1001@agents/n", {"reason_paused": "rt-lunch", "paused": "1"}),
        ("rtq", "Local/1004@agents/n", {"reason_paused": "", "paused": "0"}),
    ]
