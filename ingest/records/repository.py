"""Durable call records and agent intervals in the database: save (upsert) and purge.

`save_records` writes a batch of `CallRecord`s and `AgentInterval`s with one
``INSERT … ON CONFLICT (pbx, record_key) DO UPDATE … RETURNING id`` per table,
sent as multi-row INSERTs of up to 1000 rows, in one transaction. It is
idempotent: the same record saved again changes nothing, so a reconnect, a
replayed event or a queue_log imported twice never double-counts. A record with
the same key but different content replaces the stored one when it ends no
earlier (``ended_at``): the later, more complete version of a call — e.g. the
one closed at its real end after one closed at the end of a truncated
queue_log — wins, and saving the older version again does not undo it. Only a
call's ``wrap_up_time`` survives a newer version that does not know it (None).

`purge_before` is the retention: it deletes what ended before a cutoff.

Times go in as UTC ``datetime``s (the records carry epoch milliseconds).
Database errors raise `DatabaseUnavailable` without the password.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, func, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ingest.db.engine import database_errors
from ingest.db.models import AgentIntervalRow, CallRecordRow
from ingest.records.model import AgentInterval, CallRecord, Record

__all__ = ["from_epoch_ms", "purge_before", "save_records", "save_records_by_table", "to_epoch_ms"]

CALLS: Table = CallRecordRow.__table__  # type: ignore[assignment]
INTERVALS: Table = AgentIntervalRow.__table__  # type: ignore[assignment]
_KEY = ("pbx", "record_key")
_KEPT_WHEN_UNKNOWN = frozenset({"wrap_up_time"})
"""Columns a newer version of a record leaves as they are when it does not know them:
only the live builder knows a call's wrap-up, and a queue_log imported over the same
calls must not erase it."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_epoch_ms(ms: int | None) -> datetime | None:
    """Epoch milliseconds as an aware UTC datetime (exact, no float rounding)."""
    return None if ms is None else _EPOCH + timedelta(milliseconds=ms)


def to_epoch_ms(value: datetime | None) -> int | None:
    """The inverse of `from_epoch_ms` (a naive datetime, as SQLite returns it, is UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(milliseconds=1)


_TIME, _ENUM, _PLAIN = range(3)
_FIELDS = {
    kind: tuple(
        (
            f.name,
            _TIME if f.name.endswith("_at") else _ENUM if f.name in ("outcome", "kind") else _PLAIN,
        )
        for f in fields(kind)
    )
    for kind in (CallRecord, AgentInterval)
}


def _row(record: Record, pbx: str) -> dict[str, Any]:
    row: dict[str, Any] = {"pbx": pbx, "record_key": record.record_key()}
    for name, how in _FIELDS[type(record)]:
        value = getattr(record, name)
        if how == _TIME:
            value = from_epoch_ms(value)
        elif how == _ENUM:
            value = value.value
        row[name] = value
    return row


def _rows(records: Iterable[Record], kind: type[Record], pbx: str) -> list[dict[str, Any]]:
    # One row per key (ON CONFLICT DO UPDATE cannot touch a row twice in one statement),
    # chosen as across batches: the one that ends last, the last given on a tie.
    by_key: dict[str, Record] = {}
    for record in records:
        if isinstance(record, kind):
            key = record.record_key()
            kept = by_key.get(key)
            if kept is None or record.ended_at >= kept.ended_at:
                by_key[key] = record
    return [_row(record, pbx) for record in by_key.values()]


async def save_records(engine: AsyncEngine, records: Sequence[Record], *, pbx: str = "") -> int:
    """Upsert ``records`` (calls and intervals) in one transaction; the rows written.

    A row counts when it is inserted or replaced; a record saved again unchanged,
    or an older version of a stored one, counts nothing.
    """
    return sum(await save_records_by_table(engine, records, pbx=pbx))


async def save_records_by_table(
    engine: AsyncEngine, records: Sequence[Record], *, pbx: str = ""
) -> tuple[int, int]:
    """`save_records`, the rows written counted per table: (calls, intervals)."""
    calls = _rows(records, CallRecord, pbx)
    intervals = _rows(records, AgentInterval, pbx)
    if not calls and not intervals:
        return 0, 0
    async with database_errors(engine, "save call records"), engine.begin() as connection:
        return (
            await _upsert(connection, CALLS, calls),
            await _upsert(connection, INTERVALS, intervals),
        )


async def _upsert(connection: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    # An executemany of one cached statement, which SQLAlchemy sends as multi-row
    # INSERTs ("insertmanyvalues", up to 1000 rows each); RETURNING names the rows
    # actually inserted or replaced (a skipped conflict returns nothing).
    statement = _upsert_statement(connection.dialect.name, table, list(rows[0]))
    result = await connection.execute(statement, rows)
    return len(result.all())


def _upsert_statement(dialect: str, table: Table, columns: list[str]) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    excluded = statement.excluded
    data = [name for name in columns if name not in _KEY]
    changed: list[ColumnElement[bool]] = []
    values: dict[str, Any] = {}
    for name in data:
        stored, given = table.c[name], excluded[name]
        if name in _KEPT_WHEN_UNKNOWN:
            changed.append(given.is_not(None) & stored.is_distinct_from(given))
            values[name] = func.coalesce(given, stored)
        else:
            changed.append(stored.is_distinct_from(given))
            values[name] = given
    return statement.on_conflict_do_update(
        index_elements=list(_KEY),
        set_=values,
        where=(excluded.ended_at >= table.c.ended_at) & or_(*changed),
    ).returning(table.c.id)


async def purge_before(
    engine: AsyncEngine, cutoff: datetime, *, pbx: str | None = None
) -> tuple[int, int]:
    """Delete calls and intervals that ended before ``cutoff``; (calls, intervals) deleted.

    ``pbx`` limits it to one PBX; None purges them all. A naive ``cutoff`` is UTC.
    """
    if cutoff.tzinfo is None:
        cutoff = cutoff.replace(tzinfo=UTC)
    cutoff = cutoff.astimezone(UTC)
    counts: list[int] = []
    async with database_errors(engine, "purge call records"), engine.begin() as connection:
        for table in (CALLS, INTERVALS):
            statement = delete(table).where(table.c.ended_at < cutoff)
            if pbx is not None:
                statement = statement.where(table.c.pbx == pbx)
            result = await connection.execute(statement)
            counts.append(max(0, result.rowcount))
    return counts[0], counts[1]
