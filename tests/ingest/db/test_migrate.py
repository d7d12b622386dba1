"""migrate(): creates what is missing, leaves Asterisk's tables alone, runs again harmlessly."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from ingest.db.engine import DatabaseUnavailable, make_engine
from ingest.db.migrate import MIGRATIONS_DIR, VERSION_TABLE, alembic_config, migrate
from ingest.db.repository import load_config
from ingest.db.seed import demo_layout

Schema = dict[str, list[tuple[Any, ...]]]
SchemaOf = Callable[[str], Awaitable[Schema]]
RunScript = Callable[[str, str], Awaitable[None]]

DOCKER_POSTGRES = Path(__file__).resolve().parents[3] / "docker" / "postgres"
ENUM_TYPES = [
    "type ast_bool_values",
    "type queue_autopause_values",
    "type queue_strategy_values",
    "type yesno_values",
]
AUDIT_TABLE = "table queue_status_audit"
RECORD_TABLES = ["table queue_agent_intervals", "table queue_call_records"]
ALERT_TABLE = "table queue_status_alert_rules"
TABLES = sorted(
    [
        "table queue_members",
        "table queue_rules",
        f"table {VERSION_TABLE}",
        AUDIT_TABLE,
        ALERT_TABLE,
        *RECORD_TABLES,
        "table queues",
    ]
)
HEAD = "0006"
# What migrate() adds to a database that Asterisk's tooling made: our own tables.
OURS = sorted([f"table {VERSION_TABLE}", AUDIT_TABLE, ALERT_TABLE, *RECORD_TABLES])
# The rows of the recorded h_realtime lab (tests/fixtures/ami-traces/asterisk-conf-realtime).
LAB_ROWS = """
INSERT INTO queues (name, strategy, timeout, retry, wrapuptime, ringinuse, autopause, servicelevel,
                    joinempty, leavewhenempty, announce_frequency, periodic_announce_frequency)
 VALUES ('rtq', 'rrmemory', 8, 1, 0, 'no', 'no', 30, 'yes', 'no', 0, 0);
INSERT INTO queue_members (queue_name, interface, uniqueid, membername, state_interface, penalty,
                           paused, wrapuptime, ringinuse, reason_paused) VALUES
 ('rtq', 'Local/1001@agents/n', 1, 'Alice RT', 'Custom:1001', 0, 0, NULL, 'no', NULL),
 ('rtq', 'Local/1004@agents/n', 2, 'Dave RT',  'Custom:1004', 1, 1, 5, 'no', 'training'),
 ('rtq', 'Local/1007@agents/n', 3, 'Grace RT', 'Custom:1007', 0, 0, NULL, NULL, NULL);
"""


async def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return [tuple(row) for row in await connection.execute(text(sql))]
    finally:
        await engine.dispose()


def test_alembic_finds_its_scripts_without_an_ini_file() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert scripts.get_heads() == [HEAD]
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()


async def test_fresh_postgres_gets_asterisks_schema(
    pg_url: str, asterisk_schema: Schema, schema_of: SchemaOf
) -> None:
    created = await migrate(pg_url)

    assert created == ENUM_TYPES + TABLES
    assert await schema_of(pg_url) == asterisk_schema


async def test_migrating_twice_changes_nothing(db_url: str) -> None:
    first = await migrate(db_url)
    second = await migrate(db_url)

    assert set(TABLES) <= set(first)
    assert second == []
    assert await _query(db_url, f"SELECT version_num FROM {VERSION_TABLE}") == [(HEAD,)]


async def test_asterisk_created_schema_is_left_as_it_was(
    asterisk_pg_url: str, run_script: RunScript, schema_of: SchemaOf
) -> None:
    await run_script(asterisk_pg_url, LAB_ROWS)
    schema_before = await schema_of(asterisk_pg_url)
    members_before = await _query(asterisk_pg_url, "SELECT * FROM queue_members ORDER BY uniqueid")
    asterisk_version = await _query(asterisk_pg_url, "SELECT version_num FROM alembic_version")

    created = await migrate(asterisk_pg_url)

    assert created == OURS
    assert await schema_of(asterisk_pg_url) == schema_before
    members_after = await _query(asterisk_pg_url, "SELECT * FROM queue_members ORDER BY uniqueid")
    assert members_after == members_before
    # Asterisk's ast-db-manage revision is untouched; ours sits in its own table.
    assert await _query(asterisk_pg_url, "SELECT version_num FROM alembic_version") == (
        asterisk_version
    )
    assert await _query(asterisk_pg_url, f"SELECT version_num FROM {VERSION_TABLE}") == [(HEAD,)]


async def test_only_missing_tables_are_created(asterisk_pg_url: str, run_script: RunScript) -> None:
    # An older Asterisk schema without realtime queue rules.
    await run_script(asterisk_pg_url, "DROP TABLE queue_rules")

    assert await migrate(asterisk_pg_url) == sorted(["table queue_rules", *OURS])


async def test_concurrent_migrations_do_not_collide(pg_url: str) -> None:
    results = await asyncio.gather(migrate(pg_url), migrate(pg_url))

    assert sorted(results, key=len) == [[], ENUM_TYPES + TABLES]


async def test_docker_init_scripts_give_the_demo_call_centre(
    pg_url: str, run_script: RunScript
) -> None:
    # What the postgres service of docker-compose runs from /docker-entrypoint-initdb.d.
    for script in sorted(DOCKER_POSTGRES.glob("*.sql")):
        await run_script(pg_url, script.read_text(encoding="utf-8"))

    assert await migrate(pg_url) == OURS
    engine = make_engine(pg_url)
    try:
        config = await load_config(engine)
    finally:
        await engine.dispose()
    queues, members = demo_layout()
    assert config.queues == tuple(sorted(queues, key=lambda q: q.name))
    assert config.members == tuple(sorted(members, key=lambda m: (m.queue_name, m.interface)))


def _refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_unreachable_database_raises_without_the_password() -> None:
    url = f"postgresql://asterisk:s3cr3t-pw@127.0.0.1:{_refused_port()}/asterisk"

    with pytest.raises(DatabaseUnavailable) as raised:
        await migrate(url)

    assert "s3cr3t-pw" not in str(raised.value)
    assert "127.0.0.1" in str(raised.value)
