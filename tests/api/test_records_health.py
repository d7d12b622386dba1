"""/healthz and /metrics of the call records: PostgreSQL down leaves them buffered and the
service degraded (not down); back, every record lands once."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from redis.asyncio import Redis

from ingest.keys import KeySchema
from ingest.records.buffer import RecordBuffer
from tests.api.conftest import AppFactory
from tests.ingest.records.test_buffer_drainer import call
from tests.support.proxy import FaultProxy


async def _records(client: Any) -> dict[str, Any]:
    body = (await client.get("/healthz")).json()
    section: dict[str, Any] = body["data"]["records"]
    section["_status"] = body["data"]["status"]
    return section


async def _wait(client: Any, check: Any) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            section = await _records(client)
            if check(section):
                return section
            await asyncio.sleep(0.05)


async def test_postgresql_down_shows_records_buffered_then_all_land(
    live_app: AppFactory, runbook_db: str, redis_client: Redis, key_prefix: str
) -> None:
    proxy = FaultProxy("127.0.0.1", 5432)
    await proxy.start()
    buffer = RecordBuffer(redis_client, KeySchema(key_prefix))
    try:
        async with live_app(database_url=runbook_db.replace(":5432/", f":{proxy.port}/")) as app:
            proxy.refuse()
            await buffer.append([call(n) for n in range(40)])
            down = await _wait(app.client, lambda s: s["databaseUp"] is False)
            assert (down["buffered"], down["written"], down["overflow"]) == (40, 0, 0)
            assert down["_status"] == "degraded" and down["status"] == "degraded"
            assert "127.0.0.1" not in str(down["lastError"])
            assert (await app.client.get("/healthz")).status_code == 200  # not down

            proxy.restore()
            up = await _wait(app.client, lambda s: s["buffered"] == 0 and s["databaseUp"])
            assert (up["written"], up["lastError"]) == (40, None)
            assert up["lastWriteAt"] is not None
            metrics = (await app.client.get("/metrics")).text
            assert "queue_status_records_written_total 40.0" in metrics
    finally:
        await proxy.stop()
    connection = await asyncpg.connect(runbook_db)
    try:
        rows = await connection.fetchval(
            "SELECT count(DISTINCT record_key) FROM queue_call_records"
        )
        total = await connection.fetchval("SELECT count(*) FROM queue_call_records")
    finally:
        await connection.close()
    assert (rows, total) == (40, 40)


async def test_an_overflow_is_counted_and_shown(
    live_app: AppFactory, redis_client: Redis, key_prefix: str
) -> None:
    keys = KeySchema(key_prefix)
    # Another process drains this prefix (it holds the lease): nothing leaves the buffer.
    await redis_client.set(keys.records("lease"), "another-process", px=60_000)
    async with live_app(records_buffer_max=3) as app:
        buffer = RecordBuffer(redis_client, keys, cap=app.settings.records_buffer_max)
        result = await buffer.append([call(n) for n in range(5)])
        assert (result.added, result.overflowed) == (3, 2)
        section = await _records(app.client)
        assert (section["buffered"], section["overflow"], section["draining"]) == (3, 2, False)
        metrics = (await app.client.get("/metrics")).text
        assert "queue_status_records_overflow" in metrics
