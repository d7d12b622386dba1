"""Per-queue KPIs over a period, aggregated in SQL from ``queue_call_records``.

One row per queue and bucket (`ingest.records.kpi.periods`); a call counts in
the bucket of its ``entered_at`` (calls whose join was never seen, with no
``entered_at``, count nowhere). The fields, as the API names them:

- ``offered``: calls (QueueCallerJoin / ENTERQUEUE);
- ``answered``: calls a member took (AgentConnect / CONNECT);
- ``completed``: answered calls that ended by AgentComplete (they carry a
  talk time; COMPLETEAGENT, COMPLETECALLER, the transfers);
- ``abandoned``: QueueCallerAbandon, Queue() timeouts included, as Asterisk
  counts them (outcomes ``abandoned`` and ``timed_out``);
- ``timedOut``: the abandons known to be timeouts (only an imported queue_log's
  EXITWITHTIMEOUT says so; from AMI a timeout looks like an abandon);
- ``shortAbandoned``: abandons after a wait under ``short_abandon_seconds``
  (counted in ``abandoned`` too);
- ``answeredWithinServiceLevel``: answered with ``hold_time`` <= the queue's
  service level (seconds, given per queue; null when unknown);
- ``serviceLevel``: within / answered, in % (Asterisk's ServicelevelPerf);
- ``serviceLevelWithAbandons``: within / (answered + abandoned beyond the
  short threshold), in %;
- ``averageSpeedOfAnswer``: mean ``hold_time`` of the answered calls;
- ``averageHandleTime``: mean of talk time + wrap-up over completed calls; the
  wrap-up is the call's own ``wrap_up_time`` (what the live builder gave the
  member when the call ended; none from a queue_log: talk time only);
- ``longestWait``: the longest ``hold_time`` of any call.

Ratios and means are null when their denominator is 0, rounded to 0.01.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, Table, and_, case, cast, func, literal, null, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from ingest.db.models import CallRecordRow
from ingest.records.kpi.periods import Bucket, Period, check_rows
from ingest.records.kpi.sql import slot, utc
from ingest.records.model import CallOutcome

CALLS: Table = CallRecordRow.__table__  # type: ignore[assignment]

DEFAULT_SHORT_ABANDON_SECONDS = 5
_ABANDONS = (CallOutcome.ABANDONED.value, CallOutcome.TIMED_OUT.value)


@dataclass(slots=True)
class QueueTotals:
    """The additive sums one bucket of one queue is made of (merged across SQL slots)."""

    offered: int = 0
    answered: int = 0
    completed: int = 0
    abandoned: int = 0
    timed_out: int = 0
    short_abandoned: int = 0
    within: int = 0
    hold_sum: int = 0
    hold_count: int = 0
    handle_sum: float = 0.0
    longest_wait: int | None = None

    def add(self, other: QueueTotals) -> None:
        """Fold another slot's sums into these."""
        for name in (
            "offered", "answered", "completed", "abandoned", "timed_out",
            "short_abandoned", "within", "hold_sum", "hold_count", "handle_sum",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.longest_wait is not None:
            self.longest_wait = max(self.longest_wait or 0, other.longest_wait)


@dataclass(frozen=True, slots=True)
class QueueStats:
    """One row of ``queueStats``: one queue over one bucket."""

    queue: str
    bucket: Bucket
    totals: QueueTotals = field(default_factory=QueueTotals)
    service_level_seconds: int | None = None
    """The queue's service level the row was computed with; None when unknown."""

    def as_json(self) -> dict[str, Any]:
        """The API's field names (REST, CSV, GraphQL alike)."""
        t = self.totals
        known = self.service_level_seconds is not None
        beyond_short = t.abandoned - t.short_abandoned
        return {
            "queue": self.queue,
            "from": self.bucket.start.isoformat(),
            "to": self.bucket.end.isoformat(),
            "offered": t.offered,
            "answered": t.answered,
            "completed": t.completed,
            "abandoned": t.abandoned,
            "timedOut": t.timed_out,
            "shortAbandoned": t.short_abandoned,
            "serviceLevelSeconds": self.service_level_seconds,
            "answeredWithinServiceLevel": t.within if known else None,
            "serviceLevel": _percent(t.within, t.answered) if known else None,
            "serviceLevelWithAbandons": (
                _percent(t.within, t.answered + beyond_short) if known else None
            ),
            "averageSpeedOfAnswer": _ratio(t.hold_sum, t.hold_count),
            "averageHandleTime": _ratio(t.handle_sum, t.completed),
            "longestWait": t.longest_wait,
        }


def _ratio(total: float, count: int) -> float | None:
    return None if count == 0 else round(total / count, 2)


def _percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 2)


async def queue_stats(
    connection: AsyncConnection,
    period: Period,
    *,
    queues: Iterable[str] | None,
    service_levels: Mapping[str, int],
    short_abandon_seconds: int = DEFAULT_SHORT_ABANDON_SECONDS,
    always_include: Iterable[str] = (),
    pbx: str = "",
) -> list[QueueStats]:
    """Rows per queue and bucket, every bucket present (zeros when nothing happened).

    ``queues`` limits the queues read (None: all); ``always_include`` names
    queues that get rows even without a call (e.g. the live ones).
    ``service_levels`` maps a queue to its service level in seconds.
    """
    wanted = None if queues is None else sorted(set(queues))
    dialect = connection.dialect.name
    statement = _statement(dialect, period, wanted, service_levels, short_abandon_seconds, pbx)
    totals: dict[tuple[str, int], QueueTotals] = {}
    for row in (await connection.execute(statement)).mappings():
        index = period.bucket_of_slot(int(row["slot"])) if period.grain_seconds else 0
        totals.setdefault((row["queue"], index), QueueTotals()).add(_totals(row))
    names = {queue for queue, _ in totals} | set(always_include)
    if wanted is not None:
        names &= set(wanted)
    check_rows(len(names) * len(period.buckets))
    return [
        QueueStats(
            queue=name,
            bucket=bucket,
            totals=totals.get((name, index), QueueTotals()),
            service_level_seconds=service_levels.get(name),
        )
        for name in sorted(names)
        for index, bucket in enumerate(period.buckets)
    ]


def _totals(row: RowMapping) -> QueueTotals:
    return QueueTotals(
        offered=int(row["offered"] or 0),
        answered=int(row["answered"] or 0),
        completed=int(row["completed"] or 0),
        abandoned=int(row["abandoned"] or 0),
        timed_out=int(row["timed_out"] or 0),
        short_abandoned=int(row["short_abandoned"] or 0),
        within=int(row["within"] or 0),
        hold_sum=int(row["hold_sum"] or 0),
        hold_count=int(row["hold_count"] or 0),
        handle_sum=float(row["handle_sum"] or 0),
        longest_wait=None if row["longest_wait"] is None else int(row["longest_wait"]),
    )


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


def _statement(
    dialect: str,
    period: Period,
    queues: list[str] | None,
    service_levels: Mapping[str, int],
    short_abandon_seconds: int,
    pbx: str,
) -> Any:
    c = CALLS.c
    answered = c.answered_at.is_not(None)
    completed = and_(answered, c.talk_time.is_not(None))
    abandoned = c.outcome.in_(_ABANDONS)
    threshold = _service_level_case(c.queue, service_levels)
    columns: list[Any] = [
        c.queue.label("queue"),
        func.count().label("offered"),
        _count(answered).label("answered"),
        _count(completed).label("completed"),
        _count(abandoned).label("abandoned"),
        _count(c.outcome == CallOutcome.TIMED_OUT.value).label("timed_out"),
        _count(
            and_(
                abandoned, func.coalesce(c.hold_time, short_abandon_seconds) < short_abandon_seconds
            )
        ).label("short_abandoned"),
        _count(and_(answered, c.hold_time <= threshold)).label("within"),
        func.sum(case((answered, c.hold_time), else_=None)).label("hold_sum"),
        _count(and_(answered, c.hold_time.is_not(None))).label("hold_count"),
        func.sum(
            case((completed, c.talk_time + func.coalesce(c.wrap_up_time, 0)), else_=None)
        ).label("handle_sum"),
        func.max(c.hold_time).label("longest_wait"),
    ]
    group: list[Any] = [c.queue]
    if period.grain_seconds is not None:
        slot_of = slot(dialect, c.entered_at, period.grain_seconds)
        columns.append(slot_of.label("slot"))
        group.append(slot_of)
    else:
        columns.append(literal(0).label("slot"))
    statement = (
        select(*columns)
        .where(
            # No other bound (e.g. ``ended_at``, implied): PostgreSQL would take the two
            # for independent and expect a few rows of a day's thousands. The index on
            # (pbx, entered_at) includes every column read here (revision 0005).
            c.pbx == pbx,
            c.entered_at >= utc(period.start),
            c.entered_at < utc(period.end),
        )
        .group_by(*group)
    )
    if queues is not None:
        statement = statement.where(c.queue.in_(queues))
    return statement


def _service_level_case(queue: Any, service_levels: Mapping[str, int]) -> Any:
    """The service level of each call's queue (NULL, so never "within", when unknown)."""
    if not service_levels:
        # A typed NULL: `hold_time <= NULL` is never true, where a bare None would make
        # SQLAlchemy refuse the comparison.
        return cast(null(), Integer)
    return case(
        *((queue == name, seconds) for name, seconds in sorted(service_levels.items())),
        else_=null(),
    )
