"""A restart of our service in the middle of a call: the call still ends as ONE complete
record (the open calls are kept in Redis at the stop and loaded at the start)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import orjson
from redis.asyncio import Redis

from ingest.keys import KeySchema
from simulator import AmiSimulator, CallCentre, CentreConfig
from tests.api.conftest import AppFactory, LiveApp
from tests.support.ami import SECRET

CALLER = "5550177"


async def _reconciled(app: LiveApp) -> None:
    async with asyncio.timeout(20):
        while (await app.client.get("/healthz")).json()["data"]["ami"].get(
            "reconciliations", 0
        ) < 1:
            await asyncio.sleep(0.05)


async def _rows(url: str) -> list[dict[str, Any]]:
    connection = await asyncpg.connect(url)
    try:
        found = await connection.fetch(
            "SELECT uniqueid, outcome, entered_at, answered_at, talk_time"
            " FROM queue_call_records WHERE caller_num = $1",
            CALLER,
        )
    finally:
        await connection.close()
    return [dict(row) for row in found]


async def test_a_call_spanning_our_restart_is_one_complete_record(
    live_app: AppFactory, runbook_db: str, redis_client: Redis, key_prefix: str
) -> None:
    sim = AmiSimulator(secret=SECRET, model=CallCentre(CentreConfig.lab(), seed=3), realtime=False)
    await sim.start()
    ami = {"ami_enabled": True, "ami_port": sim.port, "ami_secret": SECRET}
    kept = KeySchema(key_prefix).records("open")
    try:
        async with live_app(**ami) as app:
            await _reconciled(app)
            sim.model.originate("sales", caller_num=CALLER, patience=120, talk=30)
            async with asyncio.timeout(20):
                while not await _answered(app):
                    sim.advance(1.0)
                    await asyncio.sleep(0.05)
        saved = orjson.loads(await redis_client.get(kept) or b"{}")
        [open_call] = [c for c in saved["calls"] if c["caller_num"] == CALLER]
        assert open_call["answered_at"] is not None
        assert await _rows(runbook_db) == []  # not ended, not written

        async with live_app(**ami) as app:
            await _reconciled(app)
            assert await redis_client.exists(kept) == 0  # loaded, taken
            async with asyncio.timeout(20):
                while not await _rows(runbook_db):
                    sim.advance(1.0)
                    await asyncio.sleep(0.05)
    finally:
        await sim.stop()
    [row] = await _rows(runbook_db)
    assert row["uniqueid"] == open_call["uniqueid"]
    assert row["outcome"].startswith("completed_by_") and row["talk_time"] >= 29
    assert row["entered_at"] < row["answered_at"]  # the join seen by the first run


async def _answered(app: LiveApp) -> bool:
    """A sales member is talking to our caller (as the live state shows it)."""
    body = (await app.client.get("/api/queue-status/operators")).json()
    return any(op.get("currentChannel") for op in body.get("data", []))
