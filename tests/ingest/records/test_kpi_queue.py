"""queueStats from hand-built records in a real PostgreSQL database (and SQLite): every
field, buckets aligned to the site's midnight, short abandons, timeouts, a DST day, empty
ranges."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.db.engine import make_engine
from ingest.db.migrate import migrate
from ingest.records.kpi import agent_stats as agent_stats_module
from ingest.records.kpi.periods import Period, PeriodError, make_period
from ingest.records.kpi.queue_stats import queue_stats
from ingest.records.model import CallOutcome, IntervalKind, Record
from ingest.records.repository import save_records
from tests.ingest.records.kpi_records import PARIS, call, interval, ms

DAY = datetime(2026, 12, 2, 12, tzinfo=UTC)
SERVICE_LEVELS = {"sales": 20, "support": 30}

# 2026-12-02 in Paris: sales gets 9 calls, support 1; billing has no service level known.
RECORDS: list[Record] = [
    call("c1", "2026-12-02 09:00:05", hold=5, talk=100, wrap_up_time=30),  # within 20 s
    call("c2", "2026-12-02 09:10:00", hold=20, talk=200),  # within (<=)
    call("c3", "2026-12-02 09:14:59", hold=21, talk=300, outcome=CallOutcome.TRANSFERRED),
    call("c4", "2026-12-02 09:20:00", outcome=CallOutcome.ABANDONED, hold=3),  # short
    call("c5", "2026-12-02 09:25:00", outcome=CallOutcome.ABANDONED, hold=40),
    call("c6", "2026-12-02 09:40:00", outcome=CallOutcome.TIMED_OUT, hold=60),
    call("c7", "2026-12-02 10:00:00", outcome=CallOutcome.EXIT_EMPTY, hold=1),
    # answered, still unfinished when the record was closed: answered, not completed
    call("c8", "2026-12-02 10:05:00", hold=8, talk=None, outcome=CallOutcome.LEFT, answered=True),
    call("c9", "2026-12-02 23:59:59", hold=2, talk=10, outcome=CallOutcome.COMPLETED_BY_CALLER),
    call("s1", "2026-12-02 09:01:00", queue="support", hold=31, talk=50),
    # outside the day: the day before and the day after (local)
    call("x1", "2026-12-01 23:59:59", hold=1),
    call("x2", "2026-12-03 00:00:00", hold=1),
    call("b1", "2026-12-02 11:00:00", queue="billing", hold=4, talk=20),
    # a wrap-up interval of c2 (the agent statistics' business): the call itself does not
    # carry one (e.g. imported from a queue_log), so its handle time is its talk time
    interval(
        IntervalKind.WRAP_UP,
        "2026-12-02 09:13:40",
        "2026-12-02 09:14:10",
        uniqueid="c2",
    ),
]


async def _engine(url: str) -> AsyncIterator[AsyncEngine]:
    await migrate(url)
    engine = make_engine(url)
    try:
        await save_records(engine, RECORDS)
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
async def engine(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str
) -> AsyncIterator[AsyncEngine]:
    """The records in PostgreSQL (the product) and in SQLite (the embedded demo)."""
    url = pg_url if request.param == "postgresql" else f"sqlite:///{tmp_path / 'kpi.sqlite'}"
    async for engine in _engine(url):
        yield engine


def _period(interval: int | None = None, **kwargs: Any) -> Period:
    return make_period(
        kwargs.get("start"), kwargs.get("end"), interval, zone=PARIS, now=kwargs.get("now", DAY)
    )


async def _rows(engine: AsyncEngine, period: Period, **kwargs: Any) -> list[dict[str, Any]]:
    kwargs.setdefault("service_levels", SERVICE_LEVELS)
    kwargs.setdefault("queues", None)
    async with engine.connect() as connection:
        rows = await queue_stats(connection, period, **kwargs)
    return [row.as_json() for row in rows]


async def test_every_field_of_today(engine: AsyncEngine) -> None:
    rows = await _rows(engine, _period(), queues=["sales"])
    assert len(rows) == 1
    assert rows[0] == {
        "queue": "sales",
        "from": "2026-12-02T00:00:00+01:00",
        "to": "2026-12-03T00:00:00+01:00",
        "offered": 9,
        "answered": 5,  # c1 c2 c3 c8 c9
        "completed": 4,  # c8 has no AgentComplete
        "abandoned": 3,  # c4 c5 c6 (the timeout too, as Asterisk counts it)
        "timedOut": 1,
        "shortAbandoned": 1,  # c4 (3 s < 5 s)
        "serviceLevelSeconds": 20,
        "answeredWithinServiceLevel": 4,  # c1 c2 c8 c9
        "serviceLevel": 80.0,  # 4 / 5
        "serviceLevelWithAbandons": 57.14,  # 4 / (5 + 2)
        "averageSpeedOfAnswer": 11.2,  # (5 + 20 + 21 + 8 + 2) / 5
        # (100 + c1's 30 s wrap-up + 200 + 300 + 10) / 4: c2's WRAP_UP interval is not read
        "averageHandleTime": 160.0,
        "longestWait": 60,
    }


async def test_short_abandon_threshold_and_unknown_service_level(engine: AsyncEngine) -> None:
    rows = await _rows(engine, _period(), short_abandon_seconds=0, always_include=["billing"])
    by_queue = {row["queue"]: row for row in rows}
    assert set(by_queue) == {"sales", "support", "billing"}
    assert by_queue["sales"]["shortAbandoned"] == 0
    assert by_queue["sales"]["serviceLevelWithAbandons"] == 50.0  # 4 / (5 + 3)
    billing = by_queue["billing"]
    assert (billing["offered"], billing["answered"], billing["completed"]) == (1, 1, 1)
    assert billing["serviceLevelSeconds"] is None
    assert billing["answeredWithinServiceLevel"] is None
    assert billing["serviceLevel"] is None
    assert billing["averageSpeedOfAnswer"] == 4.0
    assert by_queue["support"]["serviceLevel"] == 0.0  # 31 s > 30 s


async def test_no_service_level_known_at_all(engine: AsyncEngine) -> None:
    """Redis down or no queue live: the counts stand, every service-level figure is null."""
    rows = await _rows(engine, _period(), queues=["sales"], service_levels={})
    (sales,) = rows
    assert (sales["offered"], sales["answered"], sales["abandoned"]) == (9, 5, 3)
    assert sales["serviceLevelSeconds"] is None
    assert sales["answeredWithinServiceLevel"] is None and sales["serviceLevel"] is None


async def test_fifteen_minute_buckets(engine: AsyncEngine) -> None:
    rows = await _rows(engine, _period(900), queues=["sales"])
    assert len(rows) == 96
    assert rows[36]["from"] == "2026-12-02T09:00:00+01:00"
    nine = rows[36]
    assert (nine["offered"], nine["answered"], nine["completed"]) == (3, 3, 3)
    assert (nine["serviceLevel"], nine["longestWait"]) == (66.67, 21)
    quarter_past = rows[37]
    assert (quarter_past["offered"], quarter_past["abandoned"]) == (2, 2)
    assert quarter_past["shortAbandoned"] == 1
    assert quarter_past["serviceLevel"] is None  # nothing answered
    assert rows[38]["timedOut"] == 1
    assert rows[95]["offered"] == 1  # 23:59:59 is still today
    assert sum(row["offered"] for row in rows) == 9
    empty = rows[0]
    assert (empty["offered"], empty["averageSpeedOfAnswer"], empty["longestWait"]) == (
        0,
        None,
        None,
    )


async def test_range_clipped_to_the_asked_times(engine: AsyncEngine) -> None:
    start = datetime(2026, 12, 2, 9, 5, tzinfo=PARIS)
    end = datetime(2026, 12, 2, 9, 30, tzinfo=PARIS)
    rows = await _rows(engine, _period(900, start=start, end=end), queues=["sales"])
    assert [(r["from"][11:19], r["to"][11:19], r["offered"]) for r in rows] == [
        ("09:05:00", "09:15:00", 2),
        ("09:15:00", "09:30:00", 2),
    ]


async def test_an_empty_range_gives_zero_rows_for_asked_queues(engine: AsyncEngine) -> None:
    start = datetime(2025, 1, 1, tzinfo=PARIS)
    end = datetime(2025, 1, 2, tzinfo=PARIS)
    period = _period(3600, start=start, end=end)
    assert await _rows(engine, period) == []
    rows = await _rows(engine, period, queues=["sales"], always_include=["sales"])
    assert len(rows) == 24
    assert all(row["offered"] == 0 and row["serviceLevel"] is None for row in rows)


async def test_a_dst_day_has_its_own_number_of_buckets(pg_url: str) -> None:
    # 2026-03-29: Paris goes from +01:00 to +02:00 at 02:00 (a 23-hour day).
    records: list[Record] = [
        call("d1", "2026-03-29 01:59:00", hold=1),
        call("d2", "2026-03-29 03:00:00", hold=1),
        call("d3", "2026-03-29 23:50:00", hold=1),
    ]
    await migrate(pg_url)
    engine = make_engine(pg_url)
    try:
        await save_records(engine, records)
        now = datetime(2026, 3, 29, 12, tzinfo=UTC)
        rows = await _rows(engine, _period(900, now=now), queues=["sales"])
    finally:
        await engine.dispose()
    assert len(rows) == 92
    assert rows[0]["from"] == "2026-03-29T00:00:00+01:00"
    assert rows[-1]["to"] == "2026-03-30T00:00:00+02:00"
    offered = {row["from"]: row["offered"] for row in rows if row["offered"]}
    assert offered == {
        "2026-03-29T01:45:00+01:00": 1,
        "2026-03-29T03:00:00+02:00": 1,
        "2026-03-29T23:45:00+02:00": 1,
    }


def test_ms_helper_reads_local_time() -> None:
    assert ms("2026-12-02 01:00:00") == int(datetime(2026, 12, 2, tzinfo=UTC).timestamp() * 1000)


async def test_agent_stats_refuse_to_read_past_their_cap(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A range holding more agent intervals than one answer may read is refused, not read."""
    await save_records(
        engine,
        [
            interval(IntervalKind.IN_CALL, f"2026-12-02 1{n}:00:00", f"2026-12-02 1{n}:00:30")
            for n in range(5)
        ],
    )
    period = make_period(None, None, None, zone=PARIS, now=DAY)
    async with engine.connect() as connection:
        rows = await agent_stats_module.agent_stats(connection, period)
        assert ("PJSIP/1001", "sales") in {(r.member_id, r.queue) for r in rows}
        monkeypatch.setattr(agent_stats_module, "MAX_INTERVALS_READ", 5)
        with pytest.raises(PeriodError, match="more than 5 agent intervals"):
            await agent_stats_module.agent_stats(connection, period)
