"""SQL expressions the KPI queries need that PostgreSQL and SQLite spell differently.

The embedded demo runs on SQLite (times stored as naive UTC text), the product
on PostgreSQL (``timestamptz``); the queries are the same Core statements with
these pieces chosen by the connection's dialect.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Float, Integer, cast, extract, func
from sqlalchemy.sql.elements import ColumnElement


def epoch_seconds(dialect: str, column: Any) -> ColumnElement[Any]:
    """Seconds since the epoch of a time column (whole seconds on SQLite)."""
    if dialect == "postgresql":
        return extract("epoch", column)
    return cast(func.strftime("%s", column), Integer)


def slot(dialect: str, column: Any, grain_seconds: int) -> ColumnElement[Any]:
    """``floor(epoch / grain)``: the grain-long slot a time falls in."""
    return func.floor(cast(epoch_seconds(dialect, column), Float) / grain_seconds)


def utc(moment: datetime) -> datetime:
    """A bound time as both dialects compare it: UTC (SQLite compares naive UTC text)."""
    return moment.astimezone(UTC)
