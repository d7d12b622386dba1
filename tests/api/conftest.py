"""A real app on a real uvicorn socket, real Redis (own prefix) and PostgreSQL (own database)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from api.app import create_app
from api.settings import Settings
from ingest.db.migrate import migrate
from tests.support.server import run_server
from tests.support.settings import test_settings

# The runbook's call centre: PJSIP/1002 is in two queues.
RUNBOOK_QUEUES = [("sales", "rrmemory", 20), ("support", "linear", 30), ("billing", "ringall", 60)]
RUNBOOK_MEMBERS = [
    ("sales", "PJSIP/1001", "Alice", 0, 0, None, 1),
    ("sales", "PJSIP/1002", "Bob", 0, 0, None, 2),
    ("support", "PJSIP/1002", "Bob", 1, 0, None, 3),
    ("support", "PJSIP/1003", "Carol", 0, 1, "training", 4),
    ("billing", "PJSIP/1004", "Dave", 0, 0, None, 5),
]


async def insert_rows(
    url: str,
    queues: list[tuple[str, str, int]],
    members: list[tuple[str, str, str, int, int, str | None, int]],
) -> None:
    """Rows as Asterisk's realtime tables hold them."""
    connection = await asyncpg.connect(url)
    try:
        await connection.executemany(
            "INSERT INTO queues (name, strategy, servicelevel) VALUES ($1, $2, $3)", queues
        )
        await connection.executemany(
            "INSERT INTO queue_members (queue_name, interface, membername, penalty, paused,"
            " reason_paused, uniqueid) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            members,
        )
    finally:
        await connection.close()


async def execute(url: str, sql: str, *args: Any) -> None:
    """One SQL statement on the test database."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql, *args)
    finally:
        await connection.close()


@pytest.fixture
async def runbook_db(pg_url: str) -> str:
    """A migrated database with the runbook's call centre."""
    await migrate(pg_url)
    await insert_rows(pg_url, RUNBOOK_QUEUES, RUNBOOK_MEMBERS)
    return pg_url


@dataclass
class LiveApp:
    """A running app and an HTTP client for it."""

    url: str
    client: httpx.AsyncClient
    settings: Settings


AppFactory = Callable[..., AbstractAsyncContextManager[LiveApp]]


@pytest.fixture
def live_app(key_prefix: str, runbook_db: str) -> AppFactory:
    """Start the app with optional setting overrides: `async with live_app(**overrides) as app`."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[LiveApp]:
        overrides.setdefault("database_url", runbook_db)
        settings = test_settings(prefix=key_prefix, **overrides)
        app = create_app(settings)
        async with (
            run_server(app, settings) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as client,
        ):
            yield LiveApp(url, client, settings)

    return start


@pytest.fixture
async def app(live_app: AppFactory) -> AsyncIterator[LiveApp]:
    """The app with default settings (loopback, no tokens, AMI off)."""
    async with live_app() as running:
        yield running
