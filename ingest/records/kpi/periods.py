"""Time ranges and buckets of the KPIs, in the site's time zone. Pure: no I/O, no clock.

A range is ``[start, end)``. Without ``interval`` it is one bucket. With one,
buckets are aligned to the site's LOCAL midnight: each local day is cut into
``interval``-second buckets from its midnight (elapsed time, so a 23-hour or
25-hour DST day has 92 or 100 buckets of 15 minutes, every bucket as long as
the others; a day that an interval does not divide ends with a shorter one),
then the buckets are clipped to the range. A call counts in the bucket of its
``entered_at``.

`Period.grain_seconds` lets SQL group by ``floor(epoch / grain)`` and stay
dialect-neutral: the grain divides the interval and every local midnight's
epoch second, so each grain-long slot lies inside exactly one bucket (clipped
range ends are filtered by the query's WHERE). It is 900 s or a divisor of it
in every zone whose offsets are whole quarter hours.

Omitted ends are today's: ``start`` defaults to the site's midnight today and
``end`` to the next midnight. A naive time is read in the site's zone.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MIN_INTERVAL_SECONDS = 60
MAX_INTERVAL_SECONDS = 86_400
MAX_BUCKETS = 10_000
MAX_ROWS = 10_000
"""The most rows one answer may have (buckets × queues, or × members and queues): a
request refused before it costs memory and the event loop's time."""
MAX_INTERVALS_READ = 250_000
"""The most agent intervals one ``agentStats`` answer may read (a month of a big centre
without a member or queue filter is millions): refused, not read half-way."""


def check_rows(rows: int) -> None:
    """PeriodError when an answer of ``rows`` rows is too large to build."""
    if rows > MAX_ROWS:
        raise PeriodError(
            f"the answer would have {rows:,} rows (buckets × queues or members), at most "
            f"{MAX_ROWS:,}: ask a shorter range, a longer interval, one queue or one member"
        )


"""Buckets one answer may hold (three months of 15-minute buckets fit)."""


class PeriodError(ValueError):
    """A range or interval a client gave cannot be used; the message says why."""


def site_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (e.g. ``Europe/Paris``); ValueError naming it when unknown."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name.strip()[:64]!r} (an IANA name, e.g. Europe/Paris)"
        ) from None


@dataclass(frozen=True, slots=True)
class Bucket:
    """One row's time span: ``[start, end)``, in the site's zone."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Period:
    """A validated range cut into buckets (one when no interval was given)."""

    start: datetime
    """UTC."""
    end: datetime
    """UTC."""
    buckets: tuple[Bucket, ...]
    grain_seconds: int | None
    """SQL's slot length (see the module's doc); None without an interval."""

    def bucket_of_slot(self, slot: int) -> int:
        """The index of the bucket holding slot ``slot`` (``floor(epoch / grain)``)."""
        if self.grain_seconds is None:
            return 0
        return self.bucket_of(datetime.fromtimestamp(slot * self.grain_seconds, UTC))

    def bucket_of(self, moment: datetime) -> int:
        """The index of the bucket holding ``moment`` (the first one before the range)."""
        return max(0, bisect_right(self._starts, moment) - 1)

    @cached_property
    def _starts(self) -> list[datetime]:
        return [bucket.start for bucket in self.buckets]


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant of ``day``'s midnight in ``zone``."""
    return datetime.combine(day, time(), zone).astimezone(UTC)


def today(zone: ZoneInfo, now: datetime) -> tuple[datetime, datetime]:
    """Today's ``[midnight, next midnight)`` in ``zone``, as UTC instants."""
    day = now.astimezone(zone).date()
    return local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone)


def _as_utc(moment: datetime, zone: ZoneInfo) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def make_period(
    start: datetime | None,
    end: datetime | None,
    interval: int | None,
    *,
    zone: ZoneInfo,
    now: datetime,
) -> Period:
    """The period a request asks for; PeriodError when it cannot be served."""
    today_start, today_end = today(zone, now)
    first = today_start if start is None else _as_utc(start, zone)
    last = today_end if end is None else _as_utc(end, zone)
    if last <= first:
        raise PeriodError("'to' must be later than 'from'")
    if interval is None:
        return Period(first, last, (Bucket(first.astimezone(zone), last.astimezone(zone)),), None)
    if isinstance(interval, bool) or not MIN_INTERVAL_SECONDS <= interval <= MAX_INTERVAL_SECONDS:
        raise PeriodError(
            f"'interval' must be between {MIN_INTERVAL_SECONDS} and {MAX_INTERVAL_SECONDS} seconds"
        )
    # Checked before cutting: a year at 60 s must not build half a million buckets first.
    if (last - first).total_seconds() / interval > MAX_BUCKETS + 2 * ((last - first).days + 2):
        raise PeriodError(_too_many(interval))
    midnights = list(_midnights(first, last, zone))
    edges = sorted({*_edges(midnights, interval), first, last})
    edges = [edge for edge in edges if first <= edge <= last]
    if len(edges) - 1 > MAX_BUCKETS:
        raise PeriodError(_too_many(interval))
    buckets = tuple(
        Bucket(a.astimezone(zone), b.astimezone(zone)) for a, b in itertools.pairwise(edges)
    )
    grain = math.gcd(interval, *(int(m.timestamp()) for m in midnights))
    return Period(first, last, buckets, grain)


def _too_many(interval: int) -> str:
    return f"too many buckets: at most {MAX_BUCKETS} (a shorter range or an interval over {interval} s)"


def _midnights(first: datetime, last: datetime, zone: ZoneInfo) -> Iterator[datetime]:
    """Local midnights from the one at or before ``first`` to the one at or after ``last``."""
    day = first.astimezone(zone).date()
    while True:
        midnight = local_midnight(day, zone)
        yield midnight
        if midnight >= last:
            return
        day += timedelta(days=1)


def _edges(midnights: list[datetime], interval: int) -> Iterator[datetime]:
    step = timedelta(seconds=interval)
    for midnight, following in itertools.pairwise(midnights):
        edge = midnight
        while edge < following:
            yield edge
            edge += step
    yield midnights[-1]
