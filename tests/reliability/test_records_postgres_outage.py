"""Item 22: PostgreSQL stopped for a minute while calls come and go: no call record lost.

A PostgreSQL cluster of the test is stopped for ``OUTAGE_S`` (60 s) under live
simulated traffic. The records wait in the Redis buffer (``/healthz`` says so,
degraded); when the server is back the drainer writes them. At closing time
(traffic stopped, every call ended) the table holds exactly one row per caller
and queue that a raw AMI client saw join — none lost, none twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import asyncpg
import pytest

from tests.reliability.conftest import AMI_SECRET, AppFactory, lab_database, simulator
from tests.reliability.env import record
from tests.reliability.procs import PostgresCluster
from tests.support.ami_client import Client

OUTAGE_S = 60.0


async def _read_joins(client: Client, joined: set[tuple[str, str]]) -> None:
    while True:
        message = await client.read()
        if message.get("Event") == "QueueCallerJoin":
            joined.add((str(message["Uniqueid"]), str(message["Queue"])))


async def _records(health_of: Any) -> dict[str, Any]:
    body: dict[str, Any] = (await health_of.get("/healthz")).json()["data"]["records"]
    return body


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_postgres_stopped_for_a_minute_loses_no_call_record(
    app_factory: AppFactory, own_pg: PostgresCluster
) -> None:
    await own_pg.execute("CREATE DATABASE lab")
    url = await lab_database(own_pg.url("lab"))
    joined: set[tuple[str, str]] = set()
    async with simulator(rate=200) as sim:
        raw = await Client.connect(sim.port)
        await raw.send(
            {"Action": "Login", "Username": "admin", "Secret": AMI_SECRET, "Events": "agent"}
        )
        assert (await raw.read()).get("Response") == "Success"
        reader = asyncio.create_task(_read_joins(raw, joined))
        try:
            async with app_factory(
                database_url=url,
                ami_enabled=True,
                ami_port=sim.port,
                ami_secret=AMI_SECRET,
            ) as running:
                http = running.http
                await asyncio.sleep(3.0)
                await own_pg.stop("fast")
                stopped = time.perf_counter()
                most_buffered = 0
                while time.perf_counter() - stopped < OUTAGE_S:
                    records = await _records(http)
                    assert records["databaseUp"] is False or records["buffered"] == 0, records
                    most_buffered = max(most_buffered, records["buffered"])
                    await asyncio.sleep(1.0)
                health = (await http.get("/healthz")).json()["data"]
                assert health["status"] == "degraded", health
                assert health["records"]["databaseUp"] is False, health["records"]
                await own_pg.start()
                back = time.perf_counter()
                sim.model.stop_traffic()
                drained_after: float | None = None
                async with asyncio.timeout(120):
                    while True:
                        records = await _records(http)
                        drained = records["databaseUp"] and records["buffered"] == 0
                        if drained_after is None and drained:
                            drained_after = time.perf_counter() - back
                        rows, keys = await _stored(url)
                        if rows >= len(joined) and records["buffered"] == 0 and joined:
                            break
                        await asyncio.sleep(0.5)
                overflow = records["overflow"]
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await raw.close()
    rows, keys = await _stored(url)
    stored = await _stored_keys(url)
    assert keys == rows, "a call record was written twice"
    assert stored == {f"{uniqueid}|{queue}" for uniqueid, queue in joined}
    assert most_buffered > 0 and overflow == 0
    record(
        "22",
        f"PostgreSQL stopped {OUTAGE_S:.0f} s under live traffic (200 AMI events/s)",
        "records wait in the Redis buffer (/healthz degraded, databaseUp false) and land "
        "once when it is back: one row per caller and queue that joined, none twice",
        calls=len(joined),
        rows=rows,
        mostBuffered=most_buffered,
        overflow=overflow,
        drainedAfterS=round(drained_after or 0.0, 2),
    )


async def _stored(url: str) -> tuple[int, int]:
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT record_key) AS k FROM queue_call_records"
        )
    finally:
        await connection.close()
    assert row is not None
    return int(row["n"]), int(row["k"])


async def _stored_keys(url: str) -> set[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT record_key FROM queue_call_records")
    finally:
        await connection.close()
    return {str(row["record_key"]) for row in rows}
