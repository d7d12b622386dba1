"""Realtime members follow their ``queue_members`` rows, silently, as on Asterisk 22.

A source gives the rows; the simulator re-reads them when an action uses the
queue (QueueStatus ``Queue: rtq`` …), with no QueueMemberAdded/Removed, and
writes pause/penalty changes back. Over a real TCP socket, against h_realtime,
with plain and awaitable sources, and with the tables of a SQLite database.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.ami.message import AmiMessageDict
from ingest.db.engine import make_engine
from ingest.db.migrate import migrate
from ingest.db.models import Queue, QueueMember
from ingest.db.repository import load_config
from simulator.centre import CallCentre
from simulator.config import CentreConfig, MemberSetup, QueueSetup, TrafficConfig
from simulator.from_db import centre_from_db, realtime_members, realtime_update
from simulator.replay import load_trace
from simulator.server import AmiSimulator, serve
from tests.support.ami_client import Client, Clients, compared, run_recorded, sent_at

ADDED_OR_REMOVED = {"QueueMemberAdded", "QueueMemberRemoved"}


def row(ext: str, name: str, penalty: int = 0, **extra: Any) -> MemberSetup:
    return MemberSetup(f"Local/{ext}@agents/n", name, f"Custom:{ext}", penalty, "realtime", **extra)


DAVE = row("1004", "Dave RT", 1, paused=True, paused_reason="training", wrapuptime=5)
ALICE = row("1001", "Alice RT")
GRACE = row("1007", "Grace RT")
FRANK = row("1006", "Frank RT")


class Table:
    """An in-memory ``queue_members``: rows by queue, updated as app_queue writes them."""

    def __init__(self, rows: dict[str, list[MemberSetup]]) -> None:
        self.rows = rows
        self.reads: list[str] = []

    def members(self, queue: str) -> list[MemberSetup] | None:
        self.reads.append(queue)
        found = self.rows.get(queue)
        return None if found is None else list(found)

    def update(self, queue: str, interface: str, fields: Mapping[str, str]) -> None:
        changes: dict[str, Any] = {}
        if "paused" in fields:
            changes["paused"] = fields["paused"] == "1"
        if "reason_paused" in fields:
            changes["paused_reason"] = fields["reason_paused"]
        if "penalty" in fields:
            changes["penalty"] = int(fields["penalty"])
        self.rows[queue] = [
            dataclasses.replace(r, **changes) if r.interface == interface else r
            for r in self.rows[queue]
        ]


def rt_centre(start: float, *, with_lab: bool = True) -> CallCentre:
    """h_realtime's Asterisk: rtq loaded from its three rows (and the lab's static queues)."""
    lab = CentreConfig.lab()
    rtq = QueueSetup(
        "rtq", "rrmemory", timeout=8, retry=1, servicelevel=30, members=(DAVE, ALICE, GRACE)
    )
    queues = (rtq, *lab.queues) if with_lab else (rtq,)
    return CallCentre(CentreConfig(queues, lab.phones), clock=lambda: start, seed=3)


async def test_h_realtime_replayed_with_a_row_inserted_behind_asterisks_back(
    clients: Clients,
) -> None:
    """The whole of h_realtime: pauses written to the rows, Frank RT's row inserted before
    the last QueueStatus, which lists him where Asterisk did, with no QueueMemberAdded."""
    start = float(int(sent_at("h_realtime")[0][0]))
    table = Table({"rtq": [ALICE, DAVE, GRACE]})

    def insert_frank(action: AmiMessageDict) -> None:
        if action.get("ActionID") == "drv-7":
            table.rows["rtq"].append(FRANK)

    sim = AmiSimulator(
        secret="secret",
        model=rt_centre(start),
        realtime=False,
        realtime_members=table.members,
        realtime_update=table.update,
    )
    async with sim:
        client = await clients.connect(sim.port)
        await client.login()
        received = await run_recorded(sim, client, "h_realtime", before=insert_frank)
    recorded = load_trace("h_realtime").messages[1:]
    skip = ("LoginTime", "LastCall")  # static members' LoginTime; the call ends 1 s apart
    assert compared(received, skip=skip) == compared(recorded, skip=skip)
    assert not [m for m in received if m.get("Event") in ADDED_OR_REMOVED]

    def lists(messages: Sequence[AmiMessageDict]) -> list[dict[str, Any]]:
        kinds = {"QueueParams", "QueueMember", "QueueSummary", "QueueStatusComplete"}
        return [
            {k: v for k, v in m.items() if k not in skip}
            for m in messages
            if m.get("Event") in kinds or m.get("EventList") == "start"
        ]

    assert lists(received) == lists(recorded)
    final = [m for m in received if m.get("Event") == "QueueMember" and m["ActionID"] == "drv-7"]
    assert [m["Name"] for m in final] == ["Dave RT", "Alice RT", "Frank RT", "Grace RT"]
    assert table.reads.count("rtq") == 6  # drv-2, 3, 5, 6, 7, 8 each re-read rtq


@pytest.fixture
async def rt_sim() -> AsyncIterator[tuple[AmiSimulator, Table]]:
    table = Table({"rtq": [DAVE, ALICE, GRACE]})
    sim = AmiSimulator(
        secret="secret",
        model=rt_centre(1795696000.0),
        realtime=False,
        realtime_members=table.members,
        realtime_update=table.update,
    )
    async with sim:
        yield sim, table


async def status(
    client: Client, queue: str = "rtq"
) -> tuple[list[AmiMessageDict], list[AmiMessageDict]]:
    """QueueStatus (of ``queue``; all without): (its QueueMember items, the events around it)."""
    action = {"Action": "QueueStatus", "ActionID": f"qs-{queue}"}
    if queue:
        action["Queue"] = queue
    events = await client.pending()
    listing = await client.listing(action)
    events += await client.pending()
    return [m for m in listing if m.get("Event") == "QueueMember"], events


async def test_changed_rows_reload_silently_on_queue_status(
    rt_sim: tuple[AmiSimulator, Table], clients: Clients
) -> None:
    sim, table = rt_sim
    client = await clients.connect(sim.port)
    await client.login()
    table.rows["rtq"] = [
        dataclasses.replace(DAVE, paused=False, paused_reason="", penalty=3),
        ALICE,
        FRANK,
    ]
    await client.pending()
    assert sim.truth()["members"]["rtq"].keys() == {
        ALICE.interface,
        DAVE.interface,
        GRACE.interface,
    }
    members, events = await status(client)
    assert [(m["Name"], m["Penalty"], m["Paused"], m["Membership"]) for m in members] == [
        ("Dave RT", "3", "0", "static"),
        ("Alice RT", "0", "0", "static"),
        ("Frank RT", "0", "0", "static"),
    ]
    # Only the pause devices that changed: Dave unpaused, Frank's new; nothing for Grace.
    assert [(e["Event"], e["Device"], e["State"]) for e in events] == [
        ("DeviceStateChange", "Queue:rtq_pause_Local/1004@agents/n", "NOT_INUSE"),
        ("DeviceStateChange", "Queue:rtq_pause_Local/1006@agents/n", "NOT_INUSE"),
    ]
    truth = sim.truth()["members"]["rtq"]
    assert truth[FRANK.interface]["membership"] == "realtime"
    assert truth[DAVE.interface]["last_pause"] == 1795696000  # kept from before
    # A realtime member cannot be removed with QueueRemove.
    remove = {
        "Action": "QueueRemove",
        "ActionID": "rm",
        "Queue": "rtq",
        "Interface": FRANK.interface,
    }
    [refused] = await client.action(remove)
    assert refused == {"Response": "Error", "ActionID": "rm", "Message": "Member not dynamic"}
    # Other queues: the source says None (not realtime), so they are left as they are.
    members, events = await status(client, "")
    assert {m["Queue"] for m in members} == {"rtq", "support", "sales"}
    assert events == []
    assert set(table.reads) == {"rtq", "billing", "support", "sales"}


async def test_a_member_whose_row_goes_mid_call_finishes_the_call(
    rt_sim: tuple[AmiSimulator, Table], clients: Clients
) -> None:
    sim, table = rt_sim
    client = await clients.connect(sim.port)
    await client.login()
    sim.model.originate("rtq", talk=5)
    sim.advance(3)  # Alice RT answered (Dave paused, Grace unavailable)
    connect = (await client.until(lambda m: m.get("Event") == "AgentConnect"))[-1]
    assert connect["MemberName"] == "Alice RT"
    table.rows["rtq"] = [DAVE, GRACE]
    members, events = await status(client)
    assert [m["Name"] for m in members] == ["Dave RT", "Grace RT"]
    assert not [e for e in events if e.get("Event") in ADDED_OR_REMOVED]
    sim.advance(6)
    done = await client.until(lambda m: m.get("Event") == "AgentComplete")
    assert done[-1]["MemberName"] == "Alice RT"
    # Gone from rtq: her phone's QueueMemberStatus events name only sales, where she is
    # a static member, so rtq still counts the call (app_queue's update_queue).
    done += await client.pending()
    statuses = [e for e in done if e.get("Event") == "QueueMemberStatus"]
    assert {(e["Queue"], e["MemberName"]) for e in statuses} == {("sales", "Alice")}
    assert sim.truth()["queues"]["rtq"]["completed"] == 1


async def test_pause_and_penalty_write_back_and_survive_the_next_reload(
    rt_sim: tuple[AmiSimulator, Table], clients: Clients
) -> None:
    sim, table = rt_sim
    client = await clients.connect(sim.port)
    await client.login()
    pause = {"Action": "QueuePause", "Interface": ALICE.interface, "Paused": "true", "Queue": "rtq"}
    [reply] = await client.action({**pause, "ActionID": "p", "Reason": "rt-lunch"})
    assert reply["Message"] == "Interface paused successfully"
    events = await client.pending()
    penalty_action = {"Action": "QueuePenalty", "Interface": ALICE.interface, "Penalty": "2"}
    [penalty] = await client.action({**penalty_action, "ActionID": "n", "Queue": "rtq"})
    assert penalty["Message"] == "Interface penalty set successfully"
    events += await client.pending()
    assert [(e["Event"], e.get("Membership")) for e in events] == [
        ("DeviceStateChange", None),
        ("QueueMemberPause", "realtime"),
        ("QueueMemberPenalty", "realtime"),
    ]
    [alice] = [r for r in table.rows["rtq"] if r.interface == ALICE.interface]
    assert (alice.paused, alice.paused_reason, alice.penalty) == (True, "rt-lunch", 2)
    members, events = await status(client)
    assert events == []  # the rows say what the simulator holds: nothing changes
    assert [(m["Name"], m["Paused"], m["PausedReason"], m["Penalty"]) for m in members][1] == (
        "Alice RT",
        "1",
        "rt-lunch",
        "2",
    )


async def test_an_awaitable_source_keeps_answers_in_order(clients: Clients) -> None:
    """A slow (async) source: the session answers its actions in the order they came."""
    table = Table({"rtq": [DAVE, ALICE, GRACE]})
    written: list[tuple[str, str, dict[str, str]]] = []

    async def members(queue: str) -> Sequence[MemberSetup] | None:
        await asyncio.sleep(0.05)
        return table.members(queue)

    async def update(queue: str, interface: str, fields: Mapping[str, str]) -> None:
        await asyncio.sleep(0.05)
        table.update(queue, interface, fields)
        written.append((queue, interface, dict(fields)))

    sim = AmiSimulator(
        secret="secret",
        model=rt_centre(1795696000.0, with_lab=False),
        realtime=False,
        realtime_members=members,
        realtime_update=update,
    )
    async with sim:
        client = await clients.connect(sim.port)
        await client.login()
        table.rows["rtq"].append(FRANK)
        pause = {"Action": "QueuePause", "Interface": FRANK.interface, "Paused": "1"}
        for action in (
            {**pause, "ActionID": "1", "Queue": "rtq", "Reason": "coffee"},
            {"Action": "Ping", "ActionID": "2"},
            {"Action": "QueueStatus", "ActionID": "3", "Queue": "rtq"},
            {"Action": "Ping", "ActionID": "4"},
        ):
            await client.send(action)
        messages = await client.until(lambda m: m.get("ActionID") == "4")
        answers = [m["ActionID"] for m in messages if "Response" in m]
        assert answers == ["1", "2", "3", "4"]
        # The pause found Frank (reloaded first) and its write is done before the next read.
        frank = [m for m in messages if m.get("Event") == "QueueMember" and m["Name"] == "Frank RT"]
        assert [(m["Paused"], m["PausedReason"]) for m in frank] == [("1", "coffee")]
        await sim.realtime_settled()
        assert written == [("rtq", FRANK.interface, {"reason_paused": "coffee", "paused": "1"})]


async def test_a_failing_source_leaves_the_members_alone(clients: Clients) -> None:
    def broken(queue: str) -> list[MemberSetup]:
        raise ConnectionError("database down")

    sim = AmiSimulator(
        secret="secret",
        model=rt_centre(1795696000.0, with_lab=False),
        realtime=False,
        realtime_members=broken,
    )
    async with sim:
        client = await clients.connect(sim.port)
        await client.login()
        members, _ = await status(client)
        assert [m["Name"] for m in members] == ["Dave RT", "Alice RT", "Grace RT"]


# --- the source and write-back over a real database (SQLite) -------------------------------


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite:///{tmp_path / 'realtime.db'}"
    await migrate(url)
    engine = make_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            insert(Queue).values(
                name="rtq", strategy="rrmemory", timeout=8, retry=1, servicelevel=30
            )
        )
        for member in (
            {"interface": "PJSIP/1001", "uniqueid": 1, "membername": "Alice"},
            {"interface": "PJSIP/1004", "uniqueid": 2, "membername": "Dave", "penalty": 1}
            | {"paused": 1, "reason_paused": "training"},
        ):
            await connection.execute(insert(QueueMember).values(queue_name="rtq", **member))
    yield engine
    await engine.dispose()


async def test_rows_of_a_database(engine: AsyncEngine, clients: Clients) -> None:
    config = await load_config(engine)
    centre = centre_from_db(config.queues, config.members, traffic=TrafficConfig())
    sim = AmiSimulator(
        secret="secret",
        model=CallCentre(centre, clock=lambda: 1795696000.0, seed=1),
        realtime=False,
        realtime_members=realtime_members(engine),
        realtime_update=realtime_update(engine),
    )
    async with sim:
        client = await clients.connect(sim.port)
        await client.login()
        async with engine.begin() as connection:
            await connection.execute(
                insert(QueueMember).values(
                    queue_name="rtq", interface="PJSIP/1006", uniqueid=4, membername="Frank"
                )
            )
            await connection.execute(
                delete(QueueMember).where(QueueMember.interface == "PJSIP/1001")
            )
        members, events = await status(client)
        assert [(m["Name"], m["Location"], m["Paused"]) for m in members] == [
            ("Dave", "PJSIP/1004", "1"),
            ("Frank", "PJSIP/1006", "0"),
        ]
        assert not [e for e in events if e.get("Event") in ADDED_OR_REMOVED]
        pause = {"Action": "QueuePause", "ActionID": "u", "Interface": "PJSIP/1004", "Paused": "0"}
        [reply] = await client.action({**pause, "Queue": "rtq"})
        assert reply["Message"] == "Interface unpaused successfully"
        await sim.realtime_settled()
        async with engine.connect() as connection:
            dave = (
                await connection.execute(
                    select(QueueMember.paused, QueueMember.reason_paused).where(
                        QueueMember.interface == "PJSIP/1004"
                    )
                )
            ).one()
        assert tuple(dave) == (0, "")
        # A queue the queues table does not have is not realtime: left alone.
        assert await realtime_members(engine)("nope") is None


async def test_serve_runs_a_given_centre_with_its_realtime_source(clients: Clients) -> None:
    table = Table({"rtq": [ALICE, FRANK]})
    ready: asyncio.Future[AmiSimulator] = asyncio.get_running_loop().create_future()
    running = serve(
        "127.0.0.1",
        0,
        username="admin",
        secret="secret",
        model=rt_centre(1795696000.0, with_lab=False),
        realtime_members=table.members,
        realtime_update=table.update,
        ready=ready.set_result,
    )
    task = asyncio.create_task(running)
    try:
        server = await asyncio.wait_for(ready, 5)
        client = await clients.connect(server.port)
        await client.login()
        members, _ = await status(client)
        assert [m["Name"] for m in members] == ["Alice RT", "Frank RT"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
