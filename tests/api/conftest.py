"""A real app on a real uvicorn socket, real Redis (own prefix) and PostgreSQL.

Two ways to start it. `live_app(**overrides)` (and `app`): a database of the
test's own with the runbook's call centre. `serve(**overrides)` (and
`server`): one migrated, empty PostgreSQL database for the whole session (the
GraphQL tests and the REST reads from the live mirror, which never write to
it), the app under `uvicorn.Server` in the test's own event loop on a free port.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from redis.asyncio import Redis

import api.server
from api.app import create_app
from api.settings import Settings
from ingest.db.migrate import migrate
from tests.api.live_server import (
    PG_ADMIN_URL,
    LiveServer,
    Serve,
    make_settings,
    wait_for,
)
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


# --- one session database, the app started by `serve` (GraphQL and the live mirror) ---


def _run(coroutine: Any) -> None:
    # A loop of its own: session fixtures run outside the tests' loops.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(coroutine)
    finally:
        loop.close()


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """One migrated, empty database for every app `serve` starts."""
    name = f"qs_test_gql_{uuid.uuid4().hex[:12]}"
    _run(_admin(f'CREATE DATABASE "{name}"'))
    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    try:
        _run(migrate(url))
        yield url
    finally:
        _run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def serve(redis_client: Redis, key_prefix: str, database_url: str) -> Serve:
    """Start the app on a free port with settings overrides; stop it on exit."""

    @asynccontextmanager
    async def start(*, redis: Redis | None = None, **overrides: Any) -> AsyncIterator[LiveServer]:
        settings = make_settings(database_url, key_prefix, **overrides)
        app = create_app(settings, redis=redis or redis_client)
        server = uvicorn.Server(api.server.uvicorn_config(app, settings, port=0))
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
                raise AssertionError("the server stopped during startup")
            await asyncio.sleep(0.01)
        port = int(server.servers[0].sockets[0].getsockname()[1])
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                yield LiveServer(app, port, http, app.state.runtime.store)
        finally:
            server.should_exit = True
            await task

    return start


@pytest.fixture
async def server(serve: Serve) -> AsyncIterator[LiveServer]:
    """The app with default test settings, its live state loaded."""
    async with serve() as running:
        await wait_for(lambda: running.broadcaster.connected)
        yield running
