"""KPI ranges and buckets (pure): today's ends in the site's zone, buckets from its local
midnight, the slot grain SQL groups by, and the ranges refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.settings import SettingsError, load_settings
from ingest.records.kpi.periods import MAX_BUCKETS, PeriodError, make_period, site_zone

PARIS = ZoneInfo("Europe/Paris")
KATHMANDU = ZoneInfo("Asia/Kathmandu")  # +05:45
NOW = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)  # already the 3rd in Paris
UTC_ZONE = site_zone("UTC")


def test_today_is_the_site_day() -> None:
    period = make_period(None, None, None, zone=PARIS, now=NOW)
    assert period.start == datetime(2026, 12, 2, 23, tzinfo=UTC)
    assert period.end == datetime(2026, 12, 3, 23, tzinfo=UTC)
    assert len(period.buckets) == 1
    assert period.grain_seconds is None


def test_a_naive_time_is_site_time_and_buckets_are_clipped() -> None:
    period = make_period(
        datetime(2026, 12, 2, 9, 5), datetime(2026, 12, 2, 10), 1800, zone=PARIS, now=NOW
    )
    assert [(b.start.strftime("%H:%M"), b.end.strftime("%H:%M")) for b in period.buckets] == [
        ("09:05", "09:30"),
        ("09:30", "10:00"),
    ]


def test_the_slot_grain_divides_every_edge_even_at_a_quarter_hour_offset() -> None:
    period = make_period(None, None, 3600, zone=KATHMANDU, now=NOW)
    assert period.grain_seconds == 900
    assert len(period.buckets) == 24
    for index, bucket in enumerate(period.buckets):
        slot = int(bucket.start.timestamp()) // 900
        assert period.bucket_of_slot(slot) == index
        assert period.bucket_of_slot(slot + 3) == index  # the bucket's last slot


def test_an_interval_that_does_not_divide_the_day_ends_it_with_a_shorter_bucket() -> None:
    period = make_period(None, None, 7 * 3600, zone=PARIS, now=NOW)
    assert [b.end - b.start for b in period.buckets] == [timedelta(hours=7)] * 3 + [
        timedelta(hours=3)
    ]


@pytest.mark.parametrize(
    ("start", "end", "interval", "words"),
    [
        (datetime(2026, 12, 2, 10), datetime(2026, 12, 2, 9), None, "'to' must be later"),
        (datetime(2026, 12, 2, 10), datetime(2026, 12, 2, 10), None, "'to' must be later"),
        (None, None, 59, "between 60 and 86400"),
        (None, None, 86_401, "between 60 and 86400"),
        (datetime(2026, 1, 1), datetime(2026, 12, 1), 60, "too many buckets"),
    ],
)
def test_refused(
    start: datetime | None, end: datetime | None, interval: int | None, words: str
) -> None:
    with pytest.raises(PeriodError, match=words):
        make_period(start, end, interval, zone=PARIS, now=NOW)


def test_the_largest_allowed_answer() -> None:
    start = datetime(2026, 1, 1)
    period = make_period(start, start + timedelta(minutes=MAX_BUCKETS), 60, zone=UTC_ZONE, now=NOW)
    assert len(period.buckets) == MAX_BUCKETS


def test_an_unknown_zone_is_one_line_naming_the_setting() -> None:
    with pytest.raises(SettingsError, match=r"^Invalid setting SITE_TIMEZONE: unknown time zone"):
        load_settings(site_timezone="Mars/Olympus")
