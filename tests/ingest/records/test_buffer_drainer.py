"""The durable path of live records: the capped Redis stream and its drainer to PostgreSQL.

Real Redis (the test's prefix) and a real PostgreSQL database per test; the
database is reached through a fault proxy where a test takes it away.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from ingest.clock import now_ms
from ingest.db.engine import make_engine
from ingest.db.migrate import migrate
from ingest.keys import KeySchema
from ingest.records.buffer import RecordBuffer
from ingest.records.codec import RecordDecodeError, decode_record, encode_record
from ingest.records.drainer import RecordDrainer
from ingest.records.lease import RedisLease
from ingest.records.model import AgentInterval, CallOutcome, CallRecord, IntervalKind, Record
from ingest.records.repository import CALLS, INTERVALS
from tests.support.ami import until
from tests.support.proxy import FaultProxy

T0 = 1_795_696_329_150


def call(n: int, **changes: Any) -> CallRecord:
    record = CallRecord(
        queue="sales",
        uniqueid=f"1795696328.{n}",
        linkedid=None,
        caller_num="5550001",
        caller_name=None,
        entered_at=T0 + n * 1000,
        position=1,
        original_position=1,
        answered_at=None,
        answered_by=None,
        member_name=None,
        ring_attempts=0,
        ring_no_answers=0,
        hold_time=4,
        ring_time=None,
        talk_time=None,
        ended_at=T0 + n * 1000 + 4000,
        outcome=CallOutcome.ABANDONED,
        abandon_position=1,
        timed_out=None,
        source="ami",
    )
    return dataclasses.replace(record, **changes)


def pause(n: int) -> AgentInterval:
    return AgentInterval(
        interface="Local/1001@agents/n",
        queue="sales",
        kind=IntervalKind.PAUSED,
        started_at=T0 + n,
        ended_at=T0 + n + 60_000,
        reason="lunch",
    )


def test_records_round_trip_through_the_codec() -> None:
    records: list[Record] = [
        call(1),
        call(2, timed_out=True, transfer_target="1@x"),
        call(3, answered_by="PJSIP/1001", talk_time=60, wrap_up_time=15),
        pause(4),
    ]
    assert [decode_record(encode_record(r)) for r in records] == records
    for bad in (b"{", b'{"t": "x"}', b'{"t": "c"}', b"[1]"):
        with pytest.raises(RecordDecodeError):
            decode_record(bad)


def test_a_call_buffered_before_wrap_up_time_existed_still_decodes() -> None:
    body = orjson.loads(encode_record(call(1, wrap_up_time=15)))
    del body["wrap_up_time"]  # as a previous version wrote it, still in the stream
    assert decode_record(orjson.dumps(body)) == call(1, wrap_up_time=None)


async def test_the_cap_keeps_what_fits_and_counts_the_rest(
    redis_client: Redis, keys: KeySchema
) -> None:
    buffer = RecordBuffer(redis_client, keys, cap=5)
    first = await buffer.append([call(n) for n in range(3)])
    second = await buffer.append([call(n) for n in range(3, 7)])
    assert (first.added, first.overflowed) == (3, 0)
    assert (second.added, second.overflowed) == (2, 2)
    assert (await buffer.length(), await buffer.overflow()) == (5, 2)
    batch = await buffer.oldest(10)
    assert batch.records == [call(n) for n in range(5)]  # in order, the overflow left out
    await buffer.delete(batch.ids[:2])
    assert (await buffer.append([call(9)])).added == 1
    assert await buffer.length() == 4


async def test_only_one_process_holds_the_lease(redis_client: Redis, keys: KeySchema) -> None:
    one = RedisLease(redis_client, keys.records("lease"), ttl_ms=200)
    two = RedisLease(redis_client, keys.records("lease"), ttl_ms=200)
    assert await one.hold()
    assert not await two.hold()
    assert await one.hold()  # renewed
    await one.release()
    assert await two.hold()
    assert not await one.hold()


@asynccontextmanager
async def drainer_over(
    redis: Redis, keys: KeySchema, url: str, **options: Any
) -> AsyncIterator[RecordDrainer]:
    engine = make_engine(url)
    options = {"idle_wait": 0.05, "retry_initial": 0.05, "retry_cap": 0.2, **options}
    # A short lease: a drainer that does not hold it looks again every 0.1 s.
    lease = RedisLease(redis, keys.records("lease"), ttl_ms=300)
    drainer = RecordDrainer(RecordBuffer(redis, keys), engine, lease, **options)
    try:
        yield drainer
    finally:
        await drainer.stop()
        await engine.dispose()


async def stored(drainer: RecordDrainer) -> tuple[int, int, int]:
    """(call rows, their distinct keys, interval rows)."""
    async with drainer.engine.connect() as connection:
        calls = (await connection.execute(select(func.count()).select_from(CALLS))).scalar_one()
        keys = (
            await connection.execute(select(func.count(CALLS.c.record_key.distinct())))
        ).scalar_one()
        intervals = (
            await connection.execute(select(func.count()).select_from(INTERVALS))
        ).scalar_one()
    return calls, keys, intervals


async def test_postgresql_down_loses_nothing_and_doubles_nothing(
    redis_client: Redis, keys: KeySchema, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await migrate(pg_url)
    proxy = FaultProxy("127.0.0.1", 5432)
    await proxy.start()
    through_proxy = pg_url.replace(":5432/", f":{proxy.port}/")
    records: list[Record] = [call(n) for n in range(120)] + [pause(n) for n in range(30)]
    buffer = RecordBuffer(redis_client, keys)
    try:
        async with drainer_over(redis_client, keys, through_proxy, batch_size=50) as drainer:
            proxy.refuse()
            drainer.start()
            await buffer.append(records)
            await until(lambda: drainer.last_error is not None, what="the outage seen")
            down = await drainer.stats()
            assert down.buffered == 150 and not down.database_up and down.written == 0
            assert down.as_json()["status"] == "degraded"
            # The error's kind, never the database's address.
            assert (down.last_error or "").startswith("database unavailable (Connection")
            assert "127.0.0.1" not in (down.last_error or "")

            proxy.restore()
            await until(lambda: drainer.written == 150, what="the buffer drained")
            up = await drainer.stats()
            assert (up.buffered, up.database_up, up.last_error) == (0, True, None)
            assert await stored(drainer) == (120, 120, 30)

            # Entries saved but not deleted (a crash between the two), and a replay.
            await buffer.append(records[:60])
            await until(lambda: drainer.written == 210, what="the replay drained")
            assert await stored(drainer) == (120, 120, 30)
    finally:
        await proxy.stop()
    outage = [r for r in caplog.records if "cannot be saved" in r.getMessage()]
    assert len(outage) == 1  # once per outage
    assert any("saved again" in r.getMessage() for r in caplog.records)


async def test_undecodable_entries_are_set_aside(
    redis_client: Redis, keys: KeySchema, pg_url: str
) -> None:
    await migrate(pg_url)
    buffer = RecordBuffer(redis_client, keys)
    await buffer.append([call(1)])
    await redis_client.xadd(buffer.stream, {"r": b"not json"})
    await buffer.append([call(2)])
    async with drainer_over(redis_client, keys, pg_url) as drainer:
        assert await drainer.drain_once() == 2
        assert (drainer.refused, await buffer.length()) == (1, 0)
        assert (await stored(drainer))[0] == 2


async def test_a_second_drainer_waits_while_the_first_holds_the_lease(
    redis_client: Redis, keys: KeySchema, pg_url: str
) -> None:
    await migrate(pg_url)
    async with (
        drainer_over(redis_client, keys, pg_url) as first,
        drainer_over(redis_client, keys, pg_url) as second,
    ):
        first.start()
        await until(lambda: first.lease.held, what="the first holding the lease")
        second.start()
        await RecordBuffer(redis_client, keys).append([call(n) for n in range(10)])
        await until(lambda: first.written == 10, what="the first draining")
        assert (second.written, second.lease.held) == (0, False)
        await first.stop()
        await RecordBuffer(redis_client, keys).append([call(n) for n in range(10, 15)])
        await until(lambda: second.written == 5, timeout=30, what="the second taking over")


async def test_retention_purges_what_ended_before_it(
    redis_client: Redis, keys: KeySchema, pg_url: str
) -> None:
    await migrate(pg_url)
    now = now_ms()
    day = 86_400_000
    old = [call(n, ended_at=now - 11 * day) for n in range(3)]
    recent = [call(n, ended_at=now - 9 * day) for n in range(3, 5)]
    await RecordBuffer(redis_client, keys).append([*old, *recent])
    async with drainer_over(redis_client, keys, pg_url, retention_days=10) as drainer:
        assert await drainer.drain_once() == 5
        assert await drainer.purge_now() == (3, 0)
        assert (await stored(drainer))[0] == 2
    async with drainer_over(redis_client, keys, pg_url, retention_days=0) as keep:
        assert await keep.purge_now() == (0, 0)
