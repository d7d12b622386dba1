"""Realtime members through the console, end to end: the app edits Asterisk's
`queue_members` row, asks `QueueStatus Queue: <name>` (when a simulated Asterisk 22
reloads the queue from the same table, silently) and answers with the reloaded state.
Pause goes through AMI, and Asterisk writes the row's paused and reason itself."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from ingest.db.engine import make_engine
from ingest.db.repository import load_config
from simulator import AmiSimulator, CallCentre
from simulator.from_db import centre_from_db, realtime_members, realtime_update
from tests.api.conftest import AppFactory
from tests.api.console.conftest import BASE, Lab, quoted, running_lab
from tests.support.ami import SECRET

NEW = "PJSIP/1009"
ALICE = "PJSIP/1001"


@pytest.fixture
async def realtime_lab(live_app: AppFactory, runbook_db: str) -> AsyncIterator[Lab]:
    """The runbook's realtime call centre: Asterisk and the app read the same tables."""
    engine = make_engine(runbook_db)
    config = await load_config(engine)
    model = CallCentre(centre_from_db(config.queues, config.members), seed=5)
    sim = AmiSimulator(
        secret=SECRET,
        model=model,
        realtime=False,
        realtime_members=realtime_members(engine),
        realtime_update=realtime_update(engine),
    )
    try:
        async with running_lab(live_app, sim) as lab:
            yield lab
    finally:
        await engine.dispose()


async def rows(url: str, queue: str) -> dict[str, tuple[int, str | None]]:
    connection = await asyncpg.connect(url)
    try:
        found = await connection.fetch(
            "SELECT interface, paused, reason_paused FROM queue_members WHERE queue_name = $1",
            queue,
        )
    finally:
        await connection.close()
    return {r["interface"]: (r["paused"], r["reason_paused"]) for r in found}


async def test_add_and_remove_a_realtime_member_edit_the_row(
    realtime_lab: Lab, runbook_db: str
) -> None:
    lab = realtime_lab
    added = await lab.app.client.post(
        f"{BASE}/queues/sales/members",
        json={"interface": NEW, "memberName": "Ivan", "stateInterface": "PJSIP/1009"},
        headers=lab.auth("admin"),
    )
    body = added.json()
    assert added.status_code == 200, body
    assert body["via"] == "realtime"
    assert body["pending"] is False
    # Asterisk's QueueStatus prints a realtime member as "static"; the first member event
    # (Membership: realtime) or the next database sync names it realtime.
    assert body["data"]["operator"]["queues"]["sales"]["membership"] == "static"
    assert NEW in await rows(runbook_db, "sales")
    assert lab.proxy.actions("QueueAdd") == []
    assert any(a.get("Queue") == "sales" for a in lab.proxy.actions("QueueStatus"))

    removed = await lab.app.client.delete(
        f"{BASE}/queues/sales/members/{quoted(NEW)}", headers=lab.auth("admin")
    )
    assert removed.status_code == 200, removed.json()
    assert removed.json()["via"] == "realtime"
    assert removed.json()["pending"] is False
    assert removed.json()["data"]["operator"] is None
    assert NEW not in await rows(runbook_db, "sales")
    assert lab.proxy.actions("QueueRemove") == []
    outcomes = {(r["action"], r["via"], r["outcome"]) for r in await lab.audit("addQueueMember")}
    assert outcomes == {("addQueueMember", "realtime", "ok")}


async def test_pause_of_a_realtime_member_goes_through_ami_and_asterisk_writes_the_row(
    realtime_lab: Lab, runbook_db: str
) -> None:
    lab = realtime_lab
    answer = await lab.app.client.post(
        f"{BASE}/operators/{quoted(ALICE)}/pause",
        json={"queue": "sales", "reason": "lunch"},
        headers=lab.auth("supervisor"),
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["via"] == "ami"
    assert answer.json()["pending"] is False
    assert len(lab.proxy.actions("QueuePause")) == 1
    await lab.sim.realtime_settled()
    assert (await rows(runbook_db, "sales"))[ALICE] == (1, "lunch")
