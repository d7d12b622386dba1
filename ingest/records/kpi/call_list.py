"""The calls list supervisors page through (e.g. today's abandoned calls), newest first.

Order: ``entered_at`` descending, then ``id`` descending. The cursor is the
last row's id in decimal (as the audit log's); the next page starts after
that row in this order. Calls without an ``entered_at`` are never listed
(the range is on it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, and_, or_, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest.db.models import CallRecordRow
from ingest.records.kpi.periods import Period, PeriodError
from ingest.records.kpi.sql import utc
from ingest.records.model import CallOutcome
from ingest.records.repository import to_epoch_ms

CALLS: Table = CallRecordRow.__table__  # type: ignore[assignment]

MAX_PAGE = 500
DEFAULT_PAGE = 50
CURSOR_PATTERN = r"^[1-9][0-9]{0,17}$"
_CURSOR = re.compile(CURSOR_PATTERN)
OUTCOMES = tuple(outcome.value for outcome in CallOutcome)


def decode_cursor(cursor: str) -> int:
    """The row id of a cursor; PeriodError when it is not one of ours."""
    text = cursor.strip()
    if not _CURSOR.match(text):
        raise PeriodError("invalid cursor 'after': pass the endCursor of a previous page")
    return int(text)


def check_outcome(outcome: str) -> CallOutcome:
    """The outcome named; PeriodError naming the known ones otherwise."""
    try:
        return CallOutcome(outcome)
    except ValueError:
        raise PeriodError(f"unknown outcome: use one of {', '.join(OUTCOMES)}") from None


def check_page_size(first: int) -> int:
    """``first`` when within 1..MAX_PAGE; PeriodError otherwise."""
    if isinstance(first, bool) or not 1 <= first <= MAX_PAGE:
        raise PeriodError(f"'first' must be between 1 and {MAX_PAGE}")
    return first


@dataclass(frozen=True, slots=True)
class CallEntry:
    """One call as the list shows it (times as epoch milliseconds, durations in seconds)."""

    id: int
    queue: str
    uniqueid: str
    caller_number: str | None
    caller_name: str | None
    entered_at: int | None
    answered_at: int | None
    ended_at: int
    wait: int | None
    position: int | None
    original_position: int | None
    abandon_position: int | None
    outcome: str
    timed_out: bool | None
    answered_by: str | None
    member_name: str | None
    ring_attempts: int
    talk_time: int | None
    source: str

    @classmethod
    def from_row(cls, row: RowMapping) -> CallEntry:
        """Build from a ``queue_call_records`` row."""
        return cls(
            id=int(row["id"]),
            queue=row["queue"],
            uniqueid=row["uniqueid"],
            caller_number=row["caller_num"],
            caller_name=row["caller_name"],
            entered_at=to_epoch_ms(row["entered_at"]),
            answered_at=to_epoch_ms(row["answered_at"]),
            ended_at=to_epoch_ms(row["ended_at"]) or 0,
            wait=row["hold_time"],
            position=row["position"],
            original_position=row["original_position"],
            abandon_position=row["abandon_position"],
            outcome=row["outcome"],
            timed_out=row["timed_out"],
            answered_by=row["answered_by"],
            member_name=row["member_name"],
            ring_attempts=int(row["ring_attempts"]),
            talk_time=row["talk_time"],
            source=row["source"],
        )


@dataclass(frozen=True, slots=True)
class CallPage:
    """One page of calls, newest first."""

    calls: list[CallEntry] = field(default_factory=list)
    end_cursor: str | None = None
    has_next_page: bool = False


async def call_page(
    connection: AsyncConnection,
    period: Period,
    *,
    queues: Iterable[str] | None = None,
    outcome: CallOutcome | None = None,
    first: int = DEFAULT_PAGE,
    after: str | None = None,
    pbx: str = "",
) -> CallPage:
    """One page of calls entered in the period (see the module's doc)."""
    check_page_size(first)
    after_id = decode_cursor(after) if after else None
    c = CALLS.c
    conditions: list[Any] = [
        c.pbx == pbx,
        c.entered_at >= utc(period.start),
        c.entered_at < utc(period.end),
    ]
    if queues is not None:
        conditions.append(c.queue.in_(sorted(set(queues))))
    if outcome is not None:
        conditions.append(c.outcome == outcome.value)
    if after_id is not None:
        anchor = select(c.entered_at).where(c.id == after_id).scalar_subquery()
        conditions.append(or_(c.entered_at < anchor, and_(c.entered_at == anchor, c.id < after_id)))
    statement = (
        select(CALLS).where(*conditions).order_by(c.entered_at.desc(), c.id.desc()).limit(first + 1)
    )
    rows = (await connection.execute(statement)).mappings().all()
    calls = [CallEntry.from_row(row) for row in rows[:first]]
    return CallPage(
        calls=calls,
        end_cursor=str(calls[-1].id) if calls else None,
        has_next_page=len(rows) > first,
    )
