"""Fixtures of the GraphQL tests: the real app on a real uvicorn server.

Real Redis (the shared `key_prefix`/`redis_client` fixtures) and one migrated,
empty PostgreSQL database for the whole session (these tests never write to
it). `serve(**settings)` starts `create_app` under `uvicorn.Server` in the
test's own event loop on a free port.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from redis.asyncio import Redis

from api.app import create_app
from api.server import uvicorn_config
from ingest.db.migrate import migrate
from tests.graphql.live_server import (
    PG_ADMIN_URL,
    LiveServer,
    Serve,
    make_settings,
    wait_for,
)


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
    """One migrated, empty database for every GraphQL test."""
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
        server = uvicorn.Server(uvicorn_config(app, settings, port=0))
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
