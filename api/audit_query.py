"""Reading the audit table: filters, newest first, pages with a cursor.

Order: `at` descending, then `id` descending (rows written late after a
database outage keep the time of their action, so they sort where they
happened). The cursor is the last row's id in decimal; the next page starts
after that row in this order. `from` is inclusive,
`to` exclusive. A scoped reader (a token limited to some queues) sees only
rows of those queues, never rows of no queue.

Only written rows are read: rows still waiting in the writer's buffer (the
database was down) are not, and the page says how many there are (`buffered`).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from api.audit_entry import AUDIT_TABLE, StoredEntry, as_utc, stored_entry
from api.errors import BadInput, Unavailable
from ingest.db.engine import DatabaseUnavailable, database_errors
from ingest.logs import get_logger

log = get_logger("Audit")

MAX_PAGE = 500
DEFAULT_PAGE = 50
QUERY_TIMEOUT_SECONDS = 10.0
AUDIT_UNAVAILABLE = "the audit log is unavailable: database unavailable"


@dataclass(frozen=True)
class AuditPage:
    """One page of the audit log, newest first."""

    entries: list[StoredEntry] = field(default_factory=list)
    end_cursor: str | None = None
    """The cursor of the last entry (pass it as `after` for the next page); None when empty."""
    has_next_page: bool = False
    buffered: int = 0
    """Rows recorded but not written yet (not in `entries`: the database was down)."""

    def as_json(self) -> dict[str, object]:
        """The REST answer: `{success, data, count, pageInfo, buffered}`."""
        return {
            "success": True,
            "data": [entry.as_json() for entry in self.entries],
            "count": len(self.entries),
            "pageInfo": {"endCursor": self.end_cursor, "hasNextPage": self.has_next_page},
            "buffered": self.buffered,
        }


CURSOR_PATTERN = r"^[1-9][0-9]{0,17}$"
"""A cursor's form (documented in the OpenAPI document, so a client can tell one)."""
_CURSOR = re.compile(CURSOR_PATTERN)


def encode_cursor(row_id: int) -> str:
    """The cursor of a row: its id in decimal (a client passes it back as is)."""
    return str(row_id)


def decode_cursor(cursor: str) -> int:
    """The row id of a cursor; BadInput when it is not one of ours."""
    text = cursor.strip()
    if not _CURSOR.match(text):
        raise BadInput("invalid cursor 'after': pass the endCursor of a previous page")
    return int(text)


def check_page_size(first: int) -> int:
    """`first` when it is within 1..MAX_PAGE; BadInput otherwise."""
    if isinstance(first, bool) or not 1 <= first <= MAX_PAGE:
        raise BadInput(f"'first' must be between 1 and {MAX_PAGE}")
    return first


async def read_page(
    engine: AsyncEngine | None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    queue: str | None = None,
    member_id: str | None = None,
    first: int = DEFAULT_PAGE,
    after: str | None = None,
    queues_in_scope: frozenset[str] | None = None,
    buffered: int = 0,
    pbx: str | None = None,
) -> AuditPage:
    """One page of written rows matching every filter given (see the module's doc).

    `pbx` (with PBXES) keeps the actions on that PBX only.
    Raises BadInput (a page size out of range, a cursor not ours) and
    Unavailable (no database, or it is down; the details go to the log).
    """
    check_page_size(first)
    after_id = decode_cursor(after) if after else None
    if engine is None:
        raise Unavailable(AUDIT_UNAVAILABLE)
    if queues_in_scope is not None and (
        not queues_in_scope or (queue is not None and queue not in queues_in_scope)
    ):
        return AuditPage(buffered=buffered)  # nothing this reader may see
    table = AUDIT_TABLE
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(table.c.at >= as_utc(since))
    if until is not None:
        conditions.append(table.c.at < as_utc(until))
    if queue is not None:
        conditions.append(table.c.queue == queue)
    if member_id is not None:
        conditions.append(table.c.member_id == member_id)
    if queues_in_scope is not None:
        conditions.append(table.c.queue.in_(sorted(queues_in_scope)))
    if pbx is not None:  # with PBXES every action names its PBX in its arguments
        conditions.append(table.c.arguments["pbx"].as_string() == pbx)
    if after_id is not None:
        anchor = select(table.c.at).where(table.c.id == after_id).scalar_subquery()
        conditions.append(
            or_(table.c.at < anchor, and_(table.c.at == anchor, table.c.id < after_id))
        )
    statement = (
        select(table)
        .where(*conditions)
        .order_by(table.c.at.desc(), table.c.id.desc())
        .limit(first + 1)
    )
    try:
        async with asyncio.timeout(QUERY_TIMEOUT_SECONDS):
            async with database_errors(engine, "read the audit log"), engine.connect() as conn:
                rows = (await conn.execute(statement)).all()
    except DatabaseUnavailable as exc:
        log.warning("Audit log read failed: %s", exc)
        raise Unavailable(AUDIT_UNAVAILABLE) from None
    except TimeoutError:
        log.warning("Audit log read failed: no answer within %g s", QUERY_TIMEOUT_SECONDS)
        raise Unavailable(AUDIT_UNAVAILABLE) from None
    entries = [stored_entry(row) for row in rows[:first]]
    return AuditPage(
        entries=entries,
        end_cursor=encode_cursor(entries[-1].id) if entries else None,
        has_next_page=len(rows) > first,
        buffered=buffered,
    )
