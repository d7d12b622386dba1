"""Reading the realtime tables the way app_queue does, the engine's URL handling, the demo seed."""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.db.engine import DatabaseUnavailable, make_engine, normalize_url, redact_url
from ingest.db.models import Queue, QueueMember
from ingest.db.repository import (
    DbConfig,
    MemberConfig,
    QueueConfig,
    count_rows,
    load_config,
    member_config_from_row,
    queue_config_from_row,
)
from ingest.db.seed import demo_layout, demo_seed_sql, seed_demo

DEMO_SEED_SQL = Path(__file__).resolve().parents[3] / "docker" / "postgres" / "02-demo-seed.sql"


def _member(**columns: Any) -> QueueMember:
    row: dict[str, Any] = {"queue_name": "sales", "interface": "PJSIP/1001", "uniqueid": 1}
    return QueueMember(**(row | columns))


# --- fallbacks, as pure functions over rows ------------------------------------------


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ({}, {"member_name": "PJSIP/1001", "state_interface": "PJSIP/1001"}),
        ({"membername": "", "state_interface": ""}, {"member_name": "PJSIP/1001"}),
        ({"membername": "Alice", "state_interface": "Custom:1001"}, {"member_name": "Alice"}),
        ({"penalty": None}, {"penalty": 0}),
        ({"penalty": -3}, {"penalty": 0}),
        ({"penalty": 4}, {"penalty": 4}),
        ({"paused": None}, {"paused": False}),
        ({"paused": 0}, {"paused": False}),
        ({"paused": 1, "reason_paused": "lunch"}, {"paused": True, "paused_reason": "lunch"}),
        ({"reason_paused": ""}, {"paused_reason": None}),
        ({"wrapuptime": None}, {"wrapup_time": None}),
        ({"wrapuptime": 0}, {"wrapup_time": None}),
        ({"wrapuptime": 30}, {"wrapup_time": 30}),
        ({"ringinuse": None}, {"ringinuse": None}),
        ({"ringinuse": "yes"}, {"ringinuse": True}),
        ({"ringinuse": "on"}, {"ringinuse": True}),
        ({"ringinuse": "1"}, {"ringinuse": True}),
        ({"ringinuse": "true"}, {"ringinuse": True}),
        ({"ringinuse": "no"}, {"ringinuse": False}),
        ({"ringinuse": "off"}, {"ringinuse": False}),
        ({"ringinuse": "0"}, {"ringinuse": False}),
        ({"ringinuse": "false"}, {"ringinuse": False}),
    ],
)
def test_member_fallbacks(columns: dict[str, Any], expected: dict[str, Any]) -> None:
    member = member_config_from_row(_member(**columns))
    for field, value in expected.items():
        assert getattr(member, field) == value, field


def test_member_state_interface_defaults_to_interface_not_name() -> None:
    member = member_config_from_row(_member(membername="Alice"))
    assert member.state_interface == "PJSIP/1001"


def test_queue_defaults_are_app_queues() -> None:
    assert queue_config_from_row(Queue(name="q")) == QueueConfig(
        name="q",
        strategy="ringall",
        service_level=0,
        wrapup_time=0,
        timeout=15,
        max_len=0,
        weight=0,
        retry=5,
        ringinuse=True,
        autopause="no",
        join_empty=None,
        leave_when_empty=None,
    )


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ({"strategy": "linear"}, {"strategy": "linear"}),
        ({"ringinuse": "no"}, {"ringinuse": False}),
        ({"autopause": "all"}, {"autopause": "all"}),
        ({"servicelevel": 20, "wrapuptime": 5}, {"service_level": 20, "wrapup_time": 5}),
        ({"maxlen": 10, "weight": 2, "retry": 1}, {"max_len": 10, "weight": 2, "retry": 1}),
        ({"joinempty": "paused,unavailable"}, {"join_empty": "paused,unavailable"}),
        ({"leavewhenempty": ""}, {"leave_when_empty": None}),
    ],
)
def test_queue_columns(columns: dict[str, Any], expected: dict[str, Any]) -> None:
    queue = queue_config_from_row(Queue(name="q", **columns))
    for field, value in expected.items():
        assert getattr(queue, field) == value, field


def test_wrapup_time_is_the_members_else_the_queues() -> None:
    def member(queue_name: str, wrapup_time: int | None = None) -> MemberConfig:
        return MemberConfig(
            queue_name=queue_name,
            interface="PJSIP/1001",
            member_name="Alice",
            state_interface="PJSIP/1001",
            wrapup_time=wrapup_time,
            uniqueid=1,
        )

    config = DbConfig(queues=(QueueConfig(name="sales", wrapup_time=5),), members=())

    assert config.wrapup_time_of(member("sales", 30)) == 30
    assert config.wrapup_time_of(member("sales")) == 5
    assert config.wrapup_time_of(member("unknown")) == 0


# --- against the databases ------------------------------------------------------------


async def test_load_config_reads_rows_with_fallbacks(migrated_engine: AsyncEngine) -> None:
    async with migrated_engine.begin() as connection:
        await connection.execute(
            insert(Queue).values(name="support", strategy="linear", servicelevel=30, wrapuptime=10)
        )
        await connection.execute(insert(Queue).values(name="billing"))
        await connection.execute(
            insert(QueueMember).values(queue_name="support", interface="PJSIP/1002", uniqueid=7)
        )
        await connection.execute(
            insert(QueueMember).values(
                queue_name="support",
                interface="PJSIP/1001",
                uniqueid=3,
                membername="Alice",
                state_interface="Custom:1001",
                penalty=-1,
                paused=1,
                reason_paused="lunch",
                wrapuptime=20,
                ringinuse="off",
            )
        )

    config = await load_config(migrated_engine)

    assert [q.name for q in config.queues] == ["billing", "support"]
    assert config.queues[0].strategy == "ringall"
    assert (config.queues[1].strategy, config.queues[1].service_level) == ("linear", 30)
    alice, bare = config.members
    assert alice == MemberConfig(
        queue_name="support",
        interface="PJSIP/1001",
        member_name="Alice",
        state_interface="Custom:1001",
        penalty=0,
        paused=True,
        paused_reason="lunch",
        wrapup_time=20,
        ringinuse=False,
        uniqueid=3,
    )
    assert bare == MemberConfig(
        queue_name="support",
        interface="PJSIP/1002",
        member_name="PJSIP/1002",
        state_interface="PJSIP/1002",
        uniqueid=7,
    )
    assert await count_rows(migrated_engine) == (2, 2)


async def test_sqlite_reads_values_outside_asterisks_enums(sqlite_url: str) -> None:
    # SQLite does not enforce the enums; app_queue reads such values leniently.
    engine = make_engine(sqlite_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Queue.metadata.create_all)
            await connection.execute(
                text(
                    "INSERT INTO queues (name, strategy, ringinuse, autopause)"
                    " VALUES ('q', 'RRMemory', 'Y', 'bogus'), ('r', 'nonsense', NULL, 'ALL')"
                )
            )
        config = await load_config(engine)
    finally:
        await engine.dispose()

    assert [(q.strategy, q.ringinuse, q.autopause) for q in config.queues] == [
        ("rrmemory", True, "no"),
        ("ringall", True, "all"),
    ]


async def test_missing_tables_are_a_database_error(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with pytest.raises(DatabaseUnavailable, match="queue"):
            await load_config(engine)
    finally:
        await engine.dispose()


def _refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("operation", [load_config, count_rows, seed_demo])
async def test_refused_connection_names_the_database_but_not_the_password(
    operation: Any,
) -> None:
    port = _refused_port()
    engine = make_engine(f"postgresql://asterisk:s3cr3t-pw@127.0.0.1:{port}/asterisk")
    try:
        with pytest.raises(DatabaseUnavailable) as raised:
            await operation(engine)
    finally:
        await engine.dispose()

    message = str(raised.value)
    assert "s3cr3t-pw" not in message
    assert f"asterisk:***@127.0.0.1:{port}/asterisk" in message
    assert "ConnectionRefusedError" in message


async def test_missing_database_is_a_database_error(pg_url: str) -> None:
    # Trust authentication ignores the password, so the error is the missing database.
    missing = make_url(pg_url).set(password="s3cr3t-pw", database="qs_test_does_not_exist")
    engine = make_engine(missing.render_as_string(hide_password=False))
    try:
        with pytest.raises(DatabaseUnavailable, match="does not exist") as raised:
            await count_rows(engine)
    finally:
        await engine.dispose()
    assert "s3cr3t-pw" not in str(raised.value)


# --- engine URLs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db:5432/asterisk", "postgresql+asyncpg://u:p@db:5432/asterisk"),
        ("postgres://u:p@db/asterisk", "postgresql+asyncpg://u:p@db/asterisk"),
        ("postgresql+asyncpg://u@db/x", "postgresql+asyncpg://u@db/x"),
        ("sqlite:///data/demo.db", "sqlite+aiosqlite:///data/demo.db"),
        ("sqlite:////abs/demo.db", "sqlite+aiosqlite:////abs/demo.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_normalize_url_picks_the_async_driver(url: str, expected: str) -> None:
    assert normalize_url(url).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://asterisk:pw@postgres:5432/asterisk",
            "postgresql://asterisk:***@postgres:5432/asterisk",
        ),
        ("postgresql://postgres@127.0.0.1/postgres", "postgresql://postgres@127.0.0.1/postgres"),
        ("postgresql://u@h/db?password=pw", "postgresql://u@h/db?password=***"),
        ("sqlite:///demo.db", "sqlite:///demo.db"),
        ("not a url://user:pw@host", "not a url://user:***@host"),
    ],
)
def test_redact_url_hides_passwords(url: str, expected: str) -> None:
    assert redact_url(url) == expected


async def test_make_engine_fails_fast_and_checks_connections() -> None:
    engine = make_engine("postgresql://u:p@127.0.0.1/db")
    try:
        assert engine.dialect.driver == "asyncpg"
        assert engine.pool._pre_ping
    finally:
        await engine.dispose()


# --- the demo seed -------------------------------------------------------------------


def test_demo_layout_is_a_realistic_call_centre() -> None:
    queues, members = demo_layout()
    operators = {m.interface: m.member_name for m in members}
    queues_per_operator = Counter(m.interface for m in members)

    assert len(queues) >= 3
    assert {m.queue_name for m in members} == {q.name for q in queues}
    assert len(operators) >= 12
    assert all(" " in name for name in operators.values())  # human names, not extensions
    assert all(i.startswith("PJSIP/") for i in operators)
    assert sum(1 for n in queues_per_operator.values() if n >= 2) >= 2
    assert any(m.paused and m.paused_reason for m in members)
    assert any(m.penalty > 0 for m in members)
    assert len({m.uniqueid for m in members}) == len(members)


async def test_seed_is_idempotent_and_loads_back_as_the_layout(
    migrated_engine: AsyncEngine,
) -> None:
    await seed_demo(migrated_engine)
    await seed_demo(migrated_engine)

    queues, members = demo_layout()
    assert await count_rows(migrated_engine) == (len(members), len(queues))
    config = await load_config(migrated_engine)
    assert config.queues == tuple(sorted(queues, key=lambda q: q.name))
    assert config.members == tuple(sorted(members, key=lambda m: (m.queue_name, m.interface)))


async def test_seed_leaves_existing_configuration_alone(migrated_engine: AsyncEngine) -> None:
    async with migrated_engine.begin() as connection:
        await connection.execute(insert(Queue).values(name="production"))

    await seed_demo(migrated_engine)

    assert await count_rows(migrated_engine) == (0, 1)


def test_docker_seed_file_is_generated_from_the_layout() -> None:
    assert DEMO_SEED_SQL.read_text(encoding="utf-8") == demo_seed_sql(), (
        "stale: python -m ingest.db.seed > docker/postgres/02-demo-seed.sql"
    )
