"""The audit trail on real PostgreSQL: recorded rows are written, read back with filters
and pages, a scoped admin sees its queues only, and an outage never blocks an action."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.audit import AuditTrail
from api.audit_query import decode_cursor, encode_cursor
from api.auth import fingerprint
from api.errors import BadInput, Unavailable
from ingest.db.engine import make_engine
from ingest.db.migrate import migrate
from ingest.metrics import Metrics
from tests.support.audit import T0, TOKEN, entry
from tests.support.proxy import FaultProxy


def fast_trail(engine: AsyncEngine | None, **options: Any) -> AuditTrail:
    """A trail that retries quickly (tests wait for recoveries)."""
    options.setdefault("retry_initial", 0.05)
    options.setdefault("retry_cap", 0.2)
    options.setdefault("write_timeout", 3.0)
    return AuditTrail(engine, **options)


@pytest.fixture
async def audit_db(pg_url: str) -> str:
    """A migrated database of this test."""
    await migrate(pg_url)
    return pg_url


@pytest.fixture
async def engine(audit_db: str) -> AsyncIterator[AsyncEngine]:
    database = make_engine(audit_db)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def trail(engine: AsyncEngine) -> AsyncIterator[AuditTrail]:
    running = fast_trail(engine)
    running.start()
    try:
        yield running
    finally:
        await running.stop()


async def count_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            (await connection.execute(text("SELECT count(*) FROM queue_status_audit"))).scalar_one()
        )


async def test_a_recorded_entry_is_written_and_read_back(
    trail: AuditTrail, engine: AsyncEngine
) -> None:
    recorded = entry(1, message="paused", arguments={"memberId": "PJSIP/1001", "penalty": 2})
    trail.record(recorded)

    assert await trail.flush()
    page = await trail.query()

    assert [stored.entry for stored in page.entries] == [recorded]
    stored = page.entries[0]
    assert stored.at == datetime(2025, 12, 2, 10, 6, 41, tzinfo=UTC)
    assert stored.as_json()["tokenFingerprint"] == fingerprint(TOKEN)
    assert stored.as_json()["at"] == "2025-12-02T10:06:41+00:00"
    assert page.end_cursor == encode_cursor(stored.id)
    assert not page.has_next_page
    assert trail.stats().written == 1 and trail.stats().status == "ok"
    async with engine.connect() as connection:
        raw = (await connection.execute(text("SELECT * FROM queue_status_audit"))).mappings().one()
    assert raw["token_fingerprint"] == fingerprint(TOKEN)
    assert TOKEN not in str(dict(raw))


async def test_one_insert_per_batch_of_many_rows(trail: AuditTrail, engine: AsyncEngine) -> None:
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statement = args[2]
        if "queue_status_audit" in statement:
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    for n in range(150):
        trail.record(entry(n))
    assert await trail.flush()
    event.remove(engine.sync_engine, "before_cursor_execute", seen)

    assert await count_rows(engine) == 150
    assert len(statements) <= 2  # batches of up to 200 (a record may land mid-write)


async def test_filters_order_and_pages(trail: AuditTrail) -> None:
    for n in range(12):
        trail.record(entry(n))
    assert await trail.flush()

    everything = await trail.query(first=500)
    assert [s.entry.at_ms for s in everything.entries] == [T0 + n * 1000 for n in range(11, -1, -1)]

    sales = await trail.query(queue="sales")
    assert {s.entry.queue for s in sales.entries} == {"sales"}
    assert len(sales.entries) == 4

    member = await trail.query(member_id="PJSIP/1001")
    assert {s.entry.member_id for s in member.entries} == {"PJSIP/1001"}

    window = await trail.query(
        since=datetime.fromtimestamp((T0 + 3000) / 1000, UTC),
        until=datetime.fromtimestamp((T0 + 6000) / 1000, UTC),
    )
    assert [s.entry.at_ms - T0 for s in window.entries] == [5000, 4000, 3000]

    pages: list[int] = []
    after: str | None = None
    while True:
        page = await trail.query(first=5, after=after)
        pages.append(len(page.entries))
        if not page.has_next_page:
            break
        after = page.end_cursor
    assert pages == [5, 5, 2]

    # A cursor walks the filtered order too, and ties in time keep id order.
    first = await trail.query(queue="support", first=2)
    rest = await trail.query(queue="support", first=2, after=first.end_cursor)
    assert [s.entry.at_ms for s in first.entries + rest.entries] == [
        T0 + n * 1000 for n in (10, 7, 4, 1)
    ]


async def test_rows_written_late_sort_by_their_own_time(trail: AuditTrail) -> None:
    trail.record(entry(5))
    assert await trail.flush()
    trail.record(entry(2))  # recorded earlier, written later (e.g. after an outage)
    trail.record(entry(2, action="unpauseOperator"))
    assert await trail.flush()

    page = await trail.query()
    assert [(s.entry.at_ms - T0, s.entry.action) for s in page.entries] == [
        (5000, "pauseOperator"),
        (2000, "unpauseOperator"),
        (2000, "pauseOperator"),
    ]
    one = await trail.query(first=2)
    two = await trail.query(first=2, after=one.end_cursor)
    assert [s.id for s in one.entries + two.entries] == [s.id for s in page.entries]


async def test_a_scoped_admin_sees_only_its_queues(trail: AuditTrail) -> None:
    for n in range(6):
        trail.record(entry(n))
    trail.record(entry(7, queue=None, member_id=None, action="listenToOperator"))
    assert await trail.flush()

    scoped = await trail.query(queues_in_scope=frozenset({"sales", "billing"}))
    assert {s.entry.queue for s in scoped.entries} == {"sales", "billing"}
    assert len(scoped.entries) == 4
    outside = await trail.query(queue="support", queues_in_scope=frozenset({"sales"}))
    assert outside.entries == []
    assert (await trail.query(queues_in_scope=frozenset())).entries == []
    # Unscoped: every row, the one of no queue too.
    assert len((await trail.query()).entries) == 7


async def test_bad_page_sizes_and_cursors_are_refused(trail: AuditTrail) -> None:
    for first in (0, -1, 501):
        with pytest.raises(BadInput, match="between 1 and 500"):
            await trail.query(first=first)
    for cursor in ("nope!", "", "LTE", encode_cursor(0), "a" * 40):
        if not cursor:
            continue
        with pytest.raises(BadInput, match="cursor"):
            await trail.query(after=cursor)
    assert decode_cursor(encode_cursor(123456789012)) == 123456789012


async def test_arguments_are_json_and_never_hold_credentials(trail: AuditTrail) -> None:
    trail.record(
        entry(
            1,
            arguments={
                "memberId": "PJSIP/1001",
                "when": datetime(2025, 1, 1, tzinfo=UTC),
                "odd": object(),
                "apiToken": TOKEN,
                "nested": {"password": "pw", "penalty": 3},
            },
        )
    )
    trail.record(entry(2, arguments={"reason": "x" * 20_000}))
    trail.record(entry(3, at_ms=10**20, duration_ms="12", token_fingerprint="0123456789"))
    assert await trail.flush()

    rows = {s.entry.at_ms: s.entry for s in (await trail.query()).entries}
    first = rows[T0 + 1000].arguments
    assert first["apiToken"] == "***" and first["nested"] == {"password": "***", "penalty": 3}
    assert first["when"] == "2025-01-01T00:00:00+00:00"
    assert first["odd"].startswith("<object object")
    assert rows[T0 + 2000].arguments == {"truncated": True, "bytes": 20_013}
    huge = next(e for at, e in rows.items() if at not in (T0 + 1000, T0 + 2000))
    assert huge.token_fingerprint == "01234567" and huge.duration_ms == 12


async def test_stop_writes_what_is_left(engine: AsyncEngine) -> None:
    trail = fast_trail(engine)
    trail.start()
    for n in range(30):
        trail.record(entry(n))
    await trail.stop()

    assert await count_rows(engine) == 30
    assert trail.stats().buffered == 0


async def test_without_a_database_it_buffers_counts_and_says_so() -> None:
    trail = fast_trail(None, buffer_size=10)
    trail.start()
    for n in range(12):
        trail.record(entry(n))

    stats = trail.stats()
    assert (stats.buffered, stats.dropped, stats.status) == (10, 2, "degraded")
    assert stats.as_json()["lastError"] == "no database configured"
    with pytest.raises(Unavailable):
        await trail.query()
    await trail.stop()


async def test_the_demo_sqlite_database_works_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    await migrate(url)
    database = make_engine(url)
    trail = fast_trail(database)
    trail.start()
    try:
        for n in range(4):
            trail.record(entry(n))
        assert await trail.flush()
        page = await trail.query(first=3, queue=None)
        assert [s.entry.at_ms - T0 for s in page.entries] == [3000, 2000, 1000]
        rest = await trail.query(first=3, after=page.end_cursor)
        assert [s.entry for s in rest.entries] == [entry(0)]
        window = await trail.query(since=datetime.fromtimestamp((T0 + 1000) / 1000, UTC))
        assert len(window.entries) == 3
    finally:
        await trail.stop()
        await database.dispose()


# --- PostgreSQL down: a fault proxy between the trail and PostgreSQL ---------------------


@pytest.fixture
async def pg_proxy() -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy("127.0.0.1", 5432)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


@pytest.fixture
async def proxied_engine(audit_db: str, pg_proxy: FaultProxy) -> AsyncIterator[AsyncEngine]:
    database = make_engine(audit_db.replace("127.0.0.1:5432", f"127.0.0.1:{pg_proxy.port}"))
    try:
        yield database
    finally:
        await database.dispose()


def audit_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "queue_status.Audit"]


async def wait_until(condition: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_an_outage_never_blocks_and_the_rows_follow_on_recovery(
    proxied_engine: AsyncEngine,
    engine: AsyncEngine,
    pg_proxy: FaultProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    metrics = Metrics()
    trail = fast_trail(proxied_engine, metrics=metrics)
    trail.start()
    try:
        pg_proxy.refuse()
        started = time.perf_counter()
        for n in range(100):
            trail.record(entry(n))
        assert time.perf_counter() - started < 0.1  # never waits for the database
        await wait_until(lambda: trail.stats().write_errors >= 3)

        down = trail.stats()
        assert down.status == "degraded" and down.buffered == 100 and down.written == 0
        assert down.last_error is not None and down.last_error.startswith("database unavailable")
        assert "127.0.0.1" not in down.last_error and str(pg_proxy.port) not in down.last_error
        with pytest.raises(Unavailable, match="database unavailable"):
            await fast_trail(proxied_engine).query()

        pg_proxy.restore()
        assert await trail.flush(timeout=10)
        assert await count_rows(engine) == 100
        up = trail.stats()
        assert (up.status, up.written, up.dropped, up.last_error) == ("ok", 100, 0, None)
    finally:
        await trail.stop()

    messages = audit_messages(caplog)
    assert len([m for m in messages if "cannot be written" in m]) == 1  # the outage, once
    assert len([m for m in messages if "recovered" in m]) == 1  # the recovery, once
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    exposition = metrics.registry.get_sample_value
    assert exposition("queue_status_audit_rows_written_total") == 100
    assert exposition("queue_status_audit_rows_buffered") == 0
    assert (exposition("queue_status_audit_write_errors_total") or 0) >= 3


async def test_an_overflow_drops_the_oldest_counts_and_logs_once(
    proxied_engine: AsyncEngine,
    engine: AsyncEngine,
    pg_proxy: FaultProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    metrics = Metrics()
    trail = fast_trail(proxied_engine, buffer_size=10, metrics=metrics)
    trail.start()
    try:
        pg_proxy.refuse()
        for n in range(25):
            trail.record(entry(n))
        await wait_until(lambda: trail.stats().write_errors >= 2)
        stats = trail.stats()
        assert (stats.buffered, stats.dropped) == (10, 15)
        assert metrics.registry.get_sample_value("queue_status_audit_rows_dropped_total") == 15
        assert metrics.registry.get_sample_value("queue_status_audit_rows_buffered") == 10

        pg_proxy.restore()
        assert await trail.flush(timeout=10)
    finally:
        await trail.stop()

    page = await fast_trail(engine).query(first=500)
    assert sorted(s.entry.at_ms - T0 for s in page.entries) == [n * 1000 for n in range(15, 25)]
    messages = audit_messages(caplog)
    assert len([m for m in messages if "Audit buffer full" in m]) == 1
    ended = [m for m in messages if "overflow ended" in m]
    assert ended == ["Audit buffer overflow ended: 15 rows were dropped"]


async def test_a_row_the_database_refuses_is_dropped_not_retried_forever(
    trail: AuditTrail, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "ALTER TABLE queue_status_audit ADD CONSTRAINT no_bad_outcome "
                "CHECK (outcome <> 'bad')"
            )
        )
    trail.record(entry(1))
    trail.record(entry(2, outcome="bad"))
    trail.record(entry(3))

    assert await trail.flush()
    assert sorted(s.entry.at_ms - T0 for s in (await trail.query()).entries) == [1000, 3000]
    assert (trail.stats().written, trail.stats().dropped) == (2, 1)
    assert any("refused by the database" in m for m in audit_messages(caplog))


async def test_record_never_raises() -> None:
    trail = fast_trail(None)
    trail.record("not an entry")  # type: ignore[arg-type]
    trail.record(entry(1, arguments=None))
    assert trail.stats().buffered == 2


async def test_a_missing_table_is_reported_and_the_rows_wait_for_the_migration(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    database = make_engine(pg_url)  # not migrated yet
    trail = fast_trail(database)
    trail.start()
    try:
        trail.record(entry(1))
        await wait_until(lambda: trail.stats().write_errors >= 1)
        assert trail.stats().last_error == "database error (UndefinedTableError)"
        assert any("queue-status migrate" in m for m in audit_messages(caplog))

        await migrate(pg_url)
        assert await trail.flush(timeout=10)
        assert trail.stats().status == "ok"
        assert await count_rows(database) == 1
    finally:
        await trail.stop()
        await database.dispose()
