"""Per-member KPIs over a period, from ``queue_agent_intervals`` and the call records.

One row per member, queue and bucket, for every (member, queue) with an
interval overlapping the range or a call it answered there. Intervals are
clipped to each bucket (an interval spanning buckets counts in each for the
part inside it), so this is summed in Python after SQL picks the overlapping
intervals by index. Only closed intervals are stored: a pause still going on
counts once it ends.

- ``callsTaken``: calls the member answered in the queue, by ``entered_at``;
- ``talkTime``, ``wrapUpTime``, ``ringTime``, ``pausedTime``, ``loggedInTime``:
  seconds of IN_CALL, WRAP_UP, RINGING, PAUSED, LOGGED_IN intervals;
- ``pauseTimeByReason``: paused seconds per reason ("" when none was given);
- ``availableTime``: logged in, and neither paused, in a call nor wrapping up
  (ringing counts as available: the member was free and offered a call);
- ``occupancy``: (in call + wrap-up) / (in call + wrap-up + available), in %;
  null when that is 0. Static members (never added) have no LOGGED_IN
  interval, so their available time is 0 and their occupancy not known
  (null unless they were in calls).

Times are seconds, rounded to 0.001.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest.db.models import AgentIntervalRow, CallRecordRow
from ingest.records.kpi.periods import MAX_INTERVALS_READ, Bucket, Period, PeriodError, check_rows
from ingest.records.kpi.sql import slot, utc
from ingest.records.model import IntervalKind
from ingest.records.repository import to_epoch_ms

CALLS: Table = CallRecordRow.__table__  # type: ignore[assignment]
INTERVALS: Table = AgentIntervalRow.__table__  # type: ignore[assignment]

Span = tuple[int, int]
"""``[start, end)`` in epoch milliseconds."""


@dataclass(slots=True)
class AgentTimes:
    """What one member did in one queue during one bucket."""

    calls_taken: int = 0
    spans: dict[IntervalKind, list[Span]] = field(default_factory=lambda: defaultdict(list))
    pauses: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """Paused milliseconds per reason."""


@dataclass(frozen=True, slots=True)
class AgentStats:
    """One row of ``agentStats``."""

    member_id: str
    member_name: str | None
    queue: str
    bucket: Bucket
    times: AgentTimes

    def as_json(self) -> dict[str, Any]:
        """The API's field names (REST, CSV, GraphQL alike)."""
        spans = self.times.spans
        busy = _union(spans[IntervalKind.IN_CALL] + spans[IntervalKind.WRAP_UP])
        unavailable = _union(busy + spans[IntervalKind.PAUSED])
        logged_in = _union(spans[IntervalKind.LOGGED_IN])
        available = _length(logged_in) - _length(_intersection(logged_in, unavailable))
        in_call = _length(_union(spans[IntervalKind.IN_CALL]))
        wrap_up = _length(_union(spans[IntervalKind.WRAP_UP]))
        occupied = in_call + wrap_up
        return {
            "memberId": self.member_id,
            "memberName": self.member_name,
            "queue": self.queue,
            "from": self.bucket.start.isoformat(),
            "to": self.bucket.end.isoformat(),
            "callsTaken": self.times.calls_taken,
            "talkTime": _seconds(in_call),
            "wrapUpTime": _seconds(wrap_up),
            "ringTime": _seconds(_length(_union(spans[IntervalKind.RINGING]))),
            "pausedTime": _seconds(_length(_union(spans[IntervalKind.PAUSED]))),
            "pauseTimeByReason": [
                {"reason": reason, "seconds": _seconds(ms)}
                for reason, ms in sorted(self.times.pauses.items())
            ],
            "loggedInTime": _seconds(_length(logged_in)),
            "availableTime": _seconds(available),
            "occupancy": (
                None
                if occupied + available == 0
                else round(100.0 * occupied / (occupied + available), 2)
            ),
        }


def _seconds(ms: int) -> float:
    return round(ms / 1000, 3)


def _union(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif end > start:
            merged.append((start, end))
    return merged


def _intersection(left: list[Span], right: list[Span]) -> list[Span]:
    out: list[Span] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i][0], right[j][0])
        end = min(left[i][1], right[j][1])
        if start < end:
            out.append((start, end))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def _length(spans: list[Span]) -> int:
    return sum(end - start for start, end in spans)


async def agent_stats(
    connection: AsyncConnection,
    period: Period,
    *,
    member_id: str | None = None,
    queues: Iterable[str] | None = None,
    pbx: str = "",
) -> list[AgentStats]:
    """Rows per member, queue and bucket (see the module's doc), sorted by member, queue."""
    wanted = None if queues is None else sorted(set(queues))
    times: dict[tuple[str, str], dict[int, AgentTimes]] = defaultdict(dict)
    names: dict[str, str] = {}
    i = INTERVALS.c
    statement = select(
        i.interface, i.queue, i.kind, i.started_at, i.ended_at, i.reason, i.member_name
    ).where(i.pbx == pbx, i.started_at < utc(period.end), i.ended_at > utc(period.start))
    if member_id is not None:
        statement = statement.where(i.interface == member_id)
    if wanted is not None:
        statement = statement.where(i.queue.in_(wanted))
    edges = [to_epoch_ms(b.start) or 0 for b in period.buckets] + [to_epoch_ms(period.end) or 0]
    read = 0
    # Streamed: memory holds the aggregates, not the rows; refused past the cap.
    async for row in await connection.stream(statement.execution_options(yield_per=5000)):
        read += 1
        if read > MAX_INTERVALS_READ:
            raise PeriodError(
                f"more than {MAX_INTERVALS_READ:,} agent intervals in this range: ask a "
                "shorter range, one queue or one member"
            )
        try:
            kind = IntervalKind(row.kind)
        except ValueError:
            continue  # a kind of a later version: not ours to count
        if row.member_name:
            names[row.interface] = row.member_name
        start, end = to_epoch_ms(row.started_at) or 0, to_epoch_ms(row.ended_at) or 0
        per_bucket = times[(row.interface, row.queue)]
        index = max(0, bisect_right(edges, start) - 1)
        while index < len(period.buckets) and edges[index] < end:
            clipped = (max(start, edges[index]), min(end, edges[index + 1]))
            index += 1
            if clipped[0] >= clipped[1]:
                continue
            bucket = per_bucket.setdefault(index - 1, AgentTimes())
            bucket.spans[kind].append(clipped)
            if kind is IntervalKind.PAUSED:
                bucket.pauses[row.reason or ""] += clipped[1] - clipped[0]
    check_rows(len(times) * len(period.buckets))
    await _count_calls(connection, period, times, names, member_id, wanted, pbx)
    return [
        AgentStats(
            member_id=member,
            member_name=names.get(member),
            queue=queue,
            bucket=bucket,
            times=per_bucket.get(index, AgentTimes()),
        )
        for (member, queue), per_bucket in sorted(times.items())
        for index, bucket in enumerate(period.buckets)
    ]


async def _count_calls(
    connection: AsyncConnection,
    period: Period,
    times: dict[tuple[str, str], dict[int, AgentTimes]],
    names: dict[str, str],
    member_id: str | None,
    queues: list[str] | None,
    pbx: str,
) -> None:
    c = CALLS.c
    dialect = connection.dialect.name
    columns: list[Any] = [c.answered_by, c.queue, func.count().label("taken")]
    group: list[Any] = [c.answered_by, c.queue]
    if period.grain_seconds is not None:
        slot_of = slot(dialect, c.entered_at, period.grain_seconds)
        columns.append(slot_of.label("slot"))
        group.append(slot_of)
    statement = (
        select(*columns, func.max(c.member_name).label("name"))
        .where(
            c.pbx == pbx,
            c.answered_by.is_not(None),
            c.entered_at >= utc(period.start),
            c.entered_at < utc(period.end),
        )
        .group_by(*group)
    )
    if member_id is not None:
        statement = statement.where(c.answered_by == member_id)
    if queues is not None:
        statement = statement.where(c.queue.in_(queues))
    for row in (await connection.execute(statement)).mappings():
        index = period.bucket_of_slot(int(row["slot"])) if period.grain_seconds else 0
        bucket = times[(row["answered_by"], row["queue"])].setdefault(index, AgentTimes())
        bucket.calls_taken += int(row["taken"])
        if row["name"] and row["answered_by"] not in names:
            names[row["answered_by"]] = row["name"]
