"""Fixtures of the reliability suite, and the switch between its fast and full runs.

Every test here carries the `reliability` marker (tests/conftest.py marks it
by folder). Those also marked `slow` take minutes (real processes killed and
restarted, the soak): they are deselected unless ``QS_RELIABILITY=1``, which
`make reliability` sets. Everything else here runs in `make test` in seconds.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from api.app import create_app
from api.runtime import Runtime
from api.settings import Settings, load_settings
from ingest.db.migrate import migrate
from ingest.store import StateStore
from simulator import AmiSimulator, CallCentre, CentreConfig, TrafficConfig
from tests.reliability.env import FULL
from tests.reliability.procs import PostgresCluster, RedisServer
from tests.support.server import run_server

REDIS_URL = os.environ.get("QS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMI_SECRET = "reliability-ami-secret"
# The lab's queues as Asterisk's realtime `queues` table holds them.
LAB_QUEUES = [("sales", "rrmemory", 20), ("support", "linear", 30), ("billing", "ringall", 60)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Outside `make reliability`, leave the slow items out (deselected, not skipped)."""
    if FULL:
        return
    slow = [item for item in items if _full_run_only(item)]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not _full_run_only(item)]


def _full_run_only(item: pytest.Item) -> bool:
    """A slow item of this suite (the hook sees every item of the session, not only ours)."""
    return item.get_closest_marker("reliability") is not None and (
        item.get_closest_marker("slow") is not None
    )


def lab_traffic(arrival_rate: float = 2.0) -> CentreConfig:
    """The recorded lab with generated calls and pauses (a busy call centre)."""
    traffic = TrafficConfig(
        arrival_rate=arrival_rate, mean_patience=30.0, mean_talk=8.0, pause_rate=2.0
    )
    return dataclasses.replace(CentreConfig.lab(traffic), quirks=0.1)


@asynccontextmanager
async def simulator(
    *, rate: float | None = 500.0, secret: str = AMI_SECRET, seed: int = 7, **options: Any
) -> AsyncIterator[AmiSimulator]:
    """An AMI simulator of the lab with live traffic (`rate` events per second)."""
    sim = AmiSimulator(
        secret=secret, model=CallCentre(lab_traffic(), seed=seed), rate=rate, **options
    )
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


async def lab_database(url: str) -> str:
    """Migrate `url` and give it the lab's queue rows; returns `url`."""
    await migrate(url)
    connection = await asyncpg.connect(url)
    try:
        await connection.executemany(
            "INSERT INTO queues (name, strategy, servicelevel) VALUES ($1, $2, $3)", LAB_QUEUES
        )
    finally:
        await connection.close()
    return url


@pytest.fixture
async def empty_db(pg_url: str) -> str:
    """A migrated database of the test (shared PostgreSQL) without any row."""
    await migrate(pg_url)
    return pg_url


@pytest.fixture
async def lab_db(pg_url: str) -> str:
    """A database of the test (shared PostgreSQL) with the lab's queues."""
    return await lab_database(pg_url)


@pytest.fixture
async def own_redis() -> AsyncIterator[RedisServer]:
    """A redis-server of this test only (it may be killed, frozen, restarted)."""
    server = RedisServer()
    await server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def own_pg() -> AsyncIterator[PostgresCluster]:
    """A PostgreSQL cluster of this test only (it may be restarted)."""
    cluster = PostgresCluster()
    await cluster.init()
    try:
        yield cluster
    finally:
        await cluster.close()


def settings_for(*, prefix: str, database_url: str, **overrides: Any) -> Settings:
    """Settings of an in-process app: shared Redis under `prefix`, AMI off unless asked."""
    values: dict[str, Any] = {
        "redis_url": REDIS_URL,
        "redis_key_prefix": prefix,
        "database_url": database_url,
        "ami_enabled": False,
        "ami_username": "admin",
        "ami_secret": AMI_SECRET,
        "host": "127.0.0.1",
        "port": 0,
        "log_file": "",
        "api_tokens": "",
        "cors_origins": "http://localhost:4200",
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)


@dataclass
class RunningApp:
    """An app served by uvicorn in the test's loop, with an HTTP client."""

    app: FastAPI
    url: str
    http: httpx.AsyncClient
    settings: Settings

    @property
    def runtime(self) -> Runtime:
        """What the lifespan opened."""
        runtime: Runtime = self.app.state.runtime
        return runtime

    @property
    def store(self) -> StateStore:
        """The app's store."""
        return self.runtime.store

    @property
    def ws_url(self) -> str:
        """The GraphQL WebSocket endpoint."""
        return self.url.replace("http://", "ws://") + "/graphql"


AppFactory = Callable[..., AbstractAsyncContextManager[RunningApp]]


@pytest.fixture
def app_factory(key_prefix: str, pg_url: str, redis_client: Redis) -> AppFactory:
    """`async with app_factory(**settings) as running`: the real app on a real socket.

    Shared Redis under the test's key prefix (removed afterwards by `redis_client`).
    """

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[RunningApp]:
        overrides.setdefault("database_url", pg_url)
        settings = settings_for(prefix=key_prefix, **overrides)
        app = create_app(settings)
        async with (
            run_server(app, settings) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as http,
        ):
            yield RunningApp(app, url, http, settings)

    return start


def unique(label: str) -> str:
    """A value no other run uses."""
    return f"{label}-{uuid.uuid4().hex[:12]}"
