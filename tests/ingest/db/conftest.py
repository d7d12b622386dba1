"""Fixtures for the database layer: both backends, Asterisk's own schema, schema snapshots.

``pg_url`` (a fresh PostgreSQL database per test, dropped afterwards) comes
from ``tests/conftest.py``; SQLite databases live in ``tmp_path``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.db.engine import make_engine
from ingest.db.migrate import migrate

REPO_ROOT = Path(__file__).resolve().parents[3]
# A verbatim copy of Asterisk's PostgreSQL realtime schema for the queue tables
# (the recording lab's asterisk-realtime.sql); docker-compose loads the same file.
ASTERISK_SQL = REPO_ROOT / "docker" / "postgres" / "01-asterisk-realtime.sql"
# Asterisk's ast-db-manage keeps its revision here (head of Asterisk 22's config tree).
ASTERISK_ALEMBIC_HEAD = "e89e30cee53f"
QUEUE_TABLES = ("queues", "queue_members", "queue_rules")

Schema = dict[str, list[tuple[Any, ...]]]


async def _run_script(url: str, sql: str) -> None:
    """Run a multi-statement SQL script on PostgreSQL, as psql would."""
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            # asyncpg's execute() without arguments uses the simple protocol,
            # which accepts several statements; SQLAlchemy's text() does not.
            await raw.driver_connection.execute(sql)  # type: ignore[union-attr]
    finally:
        await engine.dispose()


async def _schema_of(url: str) -> Schema:
    """What information_schema and pg_catalog say about the queue tables and enum types."""
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            result: Schema = {}
            for table in QUEUE_TABLES:
                columns = await connection.execute(_COLUMNS, {"table": table})
                result[f"{table} columns"] = [tuple(row) for row in columns]
                constraints = await connection.execute(_CONSTRAINTS, {"table": table})
                result[f"{table} constraints"] = [tuple(row) for row in constraints]
            enums = await connection.execute(_ENUMS)
            result["enum types"] = [tuple(row) for row in enums]
            return result
    finally:
        await engine.dispose()


_COLUMNS = text(
    """
    SELECT ordinal_position, column_name, data_type, udt_name,
           character_maximum_length, is_nullable, column_default
    FROM information_schema.columns
    WHERE table_schema = 'public' AND table_name = :table
    ORDER BY ordinal_position
    """
)
_CONSTRAINTS = text(
    """
    SELECT tc.constraint_type,
           string_agg(kcu.column_name, ',' ORDER BY kcu.ordinal_position)
    FROM information_schema.table_constraints tc
    JOIN information_schema.key_column_usage kcu
      ON kcu.constraint_schema = tc.constraint_schema
     AND kcu.constraint_name = tc.constraint_name
    WHERE tc.table_schema = 'public' AND tc.table_name = :table
    GROUP BY tc.constraint_name, tc.constraint_type
    ORDER BY tc.constraint_type, 2
    """
)
_ENUMS = text(
    """
    SELECT t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
    FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
    GROUP BY t.typname
    ORDER BY t.typname
    """
)


@pytest.fixture
def run_script() -> Callable[[str, str], Awaitable[None]]:
    """``await run_script(url, sql)``: a multi-statement script on PostgreSQL."""
    return _run_script


@pytest.fixture
def schema_of() -> Callable[[str], Awaitable[Schema]]:
    """``await schema_of(url)``: the queue tables and enum types as PostgreSQL describes them."""
    return _schema_of


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database file of this test (created on first connect)."""
    return f"sqlite:///{tmp_path / 'queue_status.db'}"


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest) -> str:
    """An empty database on each backend the service supports."""
    fixture = "pg_url" if request.param == "postgresql" else "sqlite_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def asterisk_pg_url(pg_url: str) -> str:
    """PostgreSQL as Asterisk's tooling leaves it: the tables, enum types and its alembic_version."""
    await _run_script(pg_url, ASTERISK_SQL.read_text(encoding="utf-8"))
    await _run_script(
        pg_url,
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);"
        f"INSERT INTO alembic_version VALUES ('{ASTERISK_ALEMBIC_HEAD}');",
    )
    return pg_url


@pytest.fixture
async def asterisk_schema(pg_url: str) -> Schema:
    """Asterisk's schema as PostgreSQL describes it; ``pg_url`` is left empty again."""
    await _run_script(pg_url, ASTERISK_SQL.read_text(encoding="utf-8"))
    snapshot = await _schema_of(pg_url)
    await _run_script(
        pg_url,
        "DROP TABLE queues, queue_members, queue_rules;"
        "DROP TYPE yesno_values, ast_bool_values, queue_autopause_values, queue_strategy_values;",
    )
    return snapshot


@pytest.fixture
async def migrated_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a migrated, empty database of each backend."""
    await migrate(db_url)
    engine = make_engine(db_url)
    try:
        yield engine
    finally:
        await engine.dispose()
