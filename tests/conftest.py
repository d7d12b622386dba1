"""Shared fixtures: real Redis and PostgreSQL, each test with its own data.

Redis: a unique key prefix per test (the product's own REDIS_KEY_PREFIX), all
its keys removed afterwards. PostgreSQL: a database per test, dropped afterwards.
And the kinds that need their own runs carry a marker by folder (`-m "not browser"`).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from ingest.keys import KeySchema
from ingest.logs import reset_logging
from ingest.store import StateStore
from tests.support.ami_client import Clients
from tests.support.proxy import FaultProxy

REDIS_URL = os.environ.get("QS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_ADMIN_URL = os.environ.get("QS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

TESTS = Path(__file__).resolve().parent
# The kinds that need their own runs are folders, and each folder's tests carry its marker.
KINDS = ("browser", "reliability", "standalone")


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark a test of tests/browser, tests/reliability or tests/standalone with its kind.

    Done as each item is collected, so `-m` and every conftest's
    `pytest_collection_modifyitems` (the reliability suite's switch) see the marker.
    """
    if item.path.is_relative_to(TESTS):
        folder = item.path.relative_to(TESTS).parts[0]
        if folder in KINDS:
            item.add_marker(folder)


@pytest.fixture(autouse=True)
def logging_as_found() -> Iterator[None]:
    """Whatever logging a test configures (the CLI run in-process) ends with the test."""
    root = logging.getLogger()
    level = root.level
    yield
    reset_logging()
    root.setLevel(level)


@pytest.fixture
def key_prefix() -> str:
    """A prefix no other test uses."""
    return f"qs-test-{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def redis_client(key_prefix: str) -> AsyncIterator[Redis]:
    """A real Redis connection; every key under this test's prefix is removed afterwards."""
    client = Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=f"{key_prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
def keys(key_prefix: str) -> KeySchema:
    """The key schema under this test's prefix."""
    return KeySchema(key_prefix)


@pytest.fixture
def store(redis_client: Redis, keys: KeySchema) -> StateStore:
    """The live-state store on real Redis, under this test's prefix."""
    return StateStore(redis_client, keys)


async def _admin_execute(sql: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database of this test; dropped afterwards."""
    name = f"qs_test_{uuid.uuid4().hex[:12]}"
    await _admin_execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def redis_proxy() -> AsyncIterator[FaultProxy]:
    """A fault proxy in front of the test Redis."""
    proxy = FaultProxy("127.0.0.1", 6379)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


@pytest.fixture
async def clients() -> AsyncIterator[Clients]:
    """Raw AMI clients, all closed at the end of the test, pass or fail."""
    registry = Clients()
    yield registry
    for client in registry.opened:
        await client.close()
