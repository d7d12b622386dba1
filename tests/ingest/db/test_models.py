"""The models are Asterisk's tables, column for column."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import Table, inspect, text

from ingest.db.engine import make_engine
from ingest.db.models import Base, Queue, QueueMember, QueueRule

Schema = dict[str, list[tuple[Any, ...]]]
SchemaOf = Callable[[str], Awaitable[Schema]]


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


@pytest.mark.parametrize(
    ("model", "columns", "primary_key"),
    [
        (Queue, 56, ["name"]),
        (QueueMember, 10, ["queue_name", "interface"]),
        (QueueRule, 4, []),
    ],
)
def test_table_shape(model: type[Base], columns: int, primary_key: list[str]) -> None:
    table = _table(model)
    assert len(table.columns) == columns
    assert [column.name for column in table.primary_key] == primary_key
    # Asterisk's schema has no defaults: app_queue's own defaults apply to NULLs.
    assert all(c.server_default is None and c.default is None for c in table.columns)


def test_queue_member_uniqueid_is_required_unique_and_not_generated() -> None:
    uniqueid = _table(QueueMember).c.uniqueid
    assert uniqueid.unique
    assert not uniqueid.nullable
    assert uniqueid.autoincrement is False


def test_queue_rules_mapper_identity_without_table_key() -> None:
    assert [c.name for c in inspect(QueueRule).primary_key] == [
        "rule_name",
        "time",
        "min_penalty",
        "max_penalty",
    ]


async def test_models_create_asterisks_schema_exactly(
    pg_url: str, asterisk_schema: Schema, schema_of: SchemaOf
) -> None:
    engine = make_engine(pg_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
    finally:
        await engine.dispose()

    ours = await schema_of(pg_url)

    assert ours == asterisk_schema
    assert len(ours["queues columns"]) == 56
    assert len(ours["queue_members columns"]) == 10


async def test_create_all_leaves_an_asterisk_database_alone(
    asterisk_pg_url: str, schema_of: SchemaOf
) -> None:
    before = await schema_of(asterisk_pg_url)
    engine = make_engine(asterisk_pg_url)
    try:
        async with engine.begin() as connection:
            # The enum types exist already: checkfirst must skip them, not fail.
            await connection.run_sync(Base.metadata.create_all)
    finally:
        await engine.dispose()

    assert await schema_of(asterisk_pg_url) == before


async def test_sqlite_enum_columns_are_plain_strings(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
            ddl = await connection.scalar(
                text("SELECT sql FROM sqlite_master WHERE name = 'queue_members'")
            )
            columns = await connection.run_sync(
                lambda sync: {
                    c["name"]: str(c["type"]) for c in inspect(sync).get_columns("queues")
                }
            )
            # app_queue reads any spelling; SQLite must store it rather than reject it.
            await connection.execute(
                text("INSERT INTO queues (name, strategy, ringinuse) VALUES ('q', 'RRMemory', 'Y')")
            )
    finally:
        await engine.dispose()

    assert "CHECK" not in str(ddl).upper()
    assert columns["ringinuse"] == "VARCHAR(3)"
    assert columns["strategy"] == "VARCHAR(11)"
    assert columns["autopause"] == "VARCHAR(3)"
