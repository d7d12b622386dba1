"""Today's figures on the wallboard (stats.js), in headless Chromium against the real app.

The lab call centre on the AMI simulator (no generated traffic), the app's own
AMI ingest, call records for today saved in the app's database. The queue
headers show today's Completed / Abandoned / Service level from the records,
not Asterisk's counters, with a chart of the 15-minute buckets; while the
database refuses connections they fall back to Asterisk's counters and say so,
and come back once it answers again.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from playwright.async_api import Page
from redis.asyncio import Redis

from bench.browser import wait_live
from ingest.db.engine import make_engine
from ingest.keys import KeySchema
from ingest.patches import Patch
from ingest.records.model import CallOutcome, CallRecord
from ingest.records.repository import save_records
from ingest.store import StateStore
from tests.browser.conftest import OpenPage, StartLab
from tests.ingest.records.kpi_records import call

pytestmark = pytest.mark.timeout(120)

SHOWS_MS = 10_000
SITE = "Europe/Paris"
BUCKET = timedelta(minutes=15)

HEADER_JS = """(queue) => {
  const section = document.querySelector(`section.queue[data-queue="${queue}"]`);
  if (!section) return null;
  const stat = (name) => section.querySelector(`[data-stat="${name}"]`);
  const svg = section.querySelector('.queue-head svg.today-chart');
  return {
    source: section.dataset.todaySource ?? null,
    completed: stat('completed').textContent,
    abandoned: stat('abandoned').textContent,
    sl: stat('sl').textContent,
    completedTitle: stat('completed').title,
    slTitle: stat('sl').title,
    chart: svg && {
      height: svg.viewBox.baseVal.height,
      label: svg.querySelector('title')?.textContent ?? '',
      shown: svg.getBoundingClientRect().width > 0 && getComputedStyle(svg).display !== 'none',
      series: Object.fromEntries([...svg.querySelectorAll('polyline')].map((line) => [
        line.dataset.series,
        { points: line.getAttribute('points'), stroke: getComputedStyle(line).stroke },
      ])),
    },
  };
}"""


def today_buckets(zone: ZoneInfo) -> tuple[datetime, int, int]:
    """Today's local midnight, its number of 15-min buckets (92/96/100) and the bucket of now."""
    now = datetime.now(UTC)
    day = now.astimezone(zone).date()
    midnight = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    tomorrow = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    return midnight, (tomorrow - midnight) // BUCKET, (now - midnight) // BUCKET


def local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def todays_records(midnight: datetime, first: int, second: int) -> list[CallRecord]:
    """sales: 3 answered (waits 5, 25, 10 s against its 20 s) and 2 abandoned over two
    buckets; support: 1 answered in the second bucket; billing: none."""
    zone = ZoneInfo(SITE)
    at = [midnight + index * BUCKET + timedelta(minutes=2) for index in (first, second)]
    return [
        call("t-s1", local(at[0], zone), hold=5, talk=60),
        call("t-s2", local(at[0] + timedelta(minutes=3), zone), hold=25, talk=90),
        call("t-s3", local(at[1], zone), hold=10, talk=30),
        call("t-s4", local(at[0] + timedelta(minutes=5), zone), outcome=CallOutcome.ABANDONED),
        call("t-s5", local(at[1] + timedelta(minutes=1), zone), outcome=CallOutcome.ABANDONED),
        call("t-u1", local(at[1], zone), queue="support", hold=12, talk=40, member="PJSIP/1002"),
    ]


def values(points: str, height: float) -> list[bool]:
    """Whether each point of a polyline is above the baseline (a non-zero bucket)."""
    return [float(pair.split(",")[1]) < height for pair in points.split()]


async def header(page: Page, queue: str) -> dict[str, Any]:
    shown: dict[str, Any] = await page.evaluate(HEADER_JS, queue)
    return shown


async def wait_source(page: Page, queue: str, source: str) -> None:
    await page.wait_for_function(
        '([queue, source]) => document.querySelector(`section.queue[data-queue="${queue}"]`)'
        "?.dataset.todaySource === source",
        arg=[queue, source],
        timeout=SHOWS_MS,
    )


async def set_connections(database_url: str, allowed: bool) -> None:
    """Let the test database accept connections or not (and cut the open ones when not)."""
    name = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(database_url.rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute(
            f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}'
        )
        if not allowed:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
    finally:
        await admin.close()


async def test_headers_show_today_from_the_records_and_fall_back_while_the_database_is_down(
    lab_centre: StartLab,
    open_page: OpenPage,
    pg_url: str,
    redis_client: Redis,
    key_prefix: str,
) -> None:
    zone = ZoneInfo(SITE)
    midnight, count, now_bucket = today_buckets(zone)
    # Two distinct buckets of today (one may be later today: the chart spans the whole day).
    first, second = sorted({now_bucket, (now_bucket + count - 3) % count})
    store = StateStore(redis_client, KeySchema(key_prefix))
    async with lab_centre(site_timezone=SITE) as lab:
        engine = make_engine(pg_url)
        try:
            await save_records(engine, todays_records(midnight, first, second))
        finally:
            await engine.dispose()
        watched = await open_page(lab.server.url)
        page = watched.page
        await wait_live(page)
        for queue in ("sales", "support", "billing"):
            await wait_source(page, queue, "records")

        sales = await header(page, "sales")
        assert (sales["completed"], sales["abandoned"]) == ("3", "2")
        assert sales["sl"] == "67%"  # 2 of 3 answered within sales' 20 s
        assert "call records" in sales["completedTitle"] and "20 s" in sales["slTitle"]
        support, billing = await header(page, "support"), await header(page, "billing")
        assert (support["completed"], support["abandoned"], support["sl"]) == ("1", "0", "100%")
        assert (billing["completed"], billing["abandoned"], billing["sl"]) == ("0", "0", "–")

        # The chart: one point per 15-min bucket of today, above the baseline where calls were.
        chart = sales["chart"]
        assert chart is not None and chart["shown"]
        assert set(chart["series"]) == {"offered", "answered", "abandoned"}
        height = chart["height"]
        busy = {
            "offered": {first, second},
            "answered": {first, second},
            "abandoned": {first, second},
        }
        for series, line in chart["series"].items():
            above = values(line["points"], height)
            assert len(above) == count, series
            assert {i for i, up in enumerate(above) if up} == busy[series], series
        assert chart["label"].startswith("Today per 15 min: 5 offered, 3 answered, 2 abandoned")
        # Three lines told apart, whichever colour scheme the screen prefers.
        for scheme in ("light", "dark"):
            await page.emulate_media(color_scheme=scheme)
            seen = (await header(page, "sales"))["chart"]
            assert seen["shown"], scheme
            assert len({line["stroke"] for line in seen["series"].values()}) == 3, scheme
        support_lines = support["chart"]["series"]
        assert {
            i for i, up in enumerate(values(support_lines["offered"]["points"], height)) if up
        } == {second}
        assert not any(values(support_lines["abandoned"]["points"], height))
        assert not any(values(billing["chart"]["series"]["offered"]["points"], height))

        # The database refuses connections: Asterisk's counters come back, and say so.
        # A change of sales' counters on the live stream makes the page read again soon.
        await set_connections(pg_url, allowed=False)
        try:
            await store.apply([Patch("queue", "sales", {"completed": 41, "abandoned": 7})])
            await wait_source(page, "sales", "asterisk")
            sales = await header(page, "sales")
            live = await store.get("queue", "sales")
            assert live is not None
            assert (sales["completed"], sales["abandoned"]) == (
                str(live["completed"]),
                str(live["abandoned"]),
            )
            assert "unavailable" in sales["completedTitle"]
            assert "today" not in sales["slTitle"]
            assert sales["chart"] is None  # today's chart needs the records
        finally:
            await set_connections(pg_url, allowed=True)

        # It answers again: today's figures are back with the next read.
        await store.apply([Patch("queue", "sales", {"completed": 42})])
        await wait_source(page, "sales", "records")
        sales = await header(page, "sales")
        assert (sales["completed"], sales["abandoned"], sales["sl"]) == ("3", "2", "67%")
        assert sales["chart"] is not None and sales["chart"]["shown"]
        assert watched.errors == [], watched.errors
