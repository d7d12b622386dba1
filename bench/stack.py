"""One size's running system: database, simulated Asterisk, the product server.

The simulator lives in the driver process and stays silent unless a scenario
makes it talk; the server (`python -m api.cli serve`, the real deployment
entry point) runs in a process of its own with AMI ingest, DB sync and every
setting taken from its environment, under a Redis key prefix of the run's own.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from bench.centre import Layout, build_model, create_database, drop_database, make_layout
from bench.processes import Child, free_port, start_child, wait_http
from bench.redis_keys import delete_prefix
from ingest.keys import KeySchema
from ingest.store import StateStore
from simulator import AmiSimulator, CallCentre

REST = "/api/queue-status"


@dataclass
class Stack:
    """A size's system, up and reconciled."""

    layout: Layout
    model: CallCentre
    simulator: AmiSimulator
    server: Child
    url: str
    port: int
    redis: Redis
    store: StateStore
    database_url: str
    redis_url: str
    workdir: Path
    env: dict[str, str]
    restarts: int = 0

    @property
    def ws_url(self) -> str:
        """The GraphQL WebSocket endpoint."""
        return f"ws://127.0.0.1:{self.port}/graphql"

    async def restart_server(self) -> None:
        """A fresh server process (memory measured from a clean heap), reconciled."""
        await self.server.stop()
        self.restarts += 1
        self.server = await start_child(
            f"server-{self.layout.operators}-{self.restarts}",
            ["-m", "api.cli", "serve"],
            env=self.env,
            workdir=self.workdir,
        )
        await wait_http(self.server, f"{self.url}/healthz", timeout=120)
        await _wait_reconciled(self)

    async def sync_status(self) -> dict[str, Any]:
        """GET /sync/status (the ingest's counters included)."""
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.get(f"{self.url}{REST}/sync/status")
            response.raise_for_status()
            data: dict[str, Any] = response.json()["data"]
            return data

    async def get(self, path: str) -> bytes:
        """The body of GET `path`."""
        async with httpx.AsyncClient(timeout=60) as client:
            response = await client.get(f"{self.url}{path}")
            response.raise_for_status()
            return response.content

    async def post_json(self, path: str, body: bytes) -> bytes:
        """The body of POST `path` with a JSON body."""
        async with httpx.AsyncClient(timeout=60) as client:
            response = await client.post(
                f"{self.url}{path}", content=body, headers={"Content-Type": "application/json"}
            )
            response.raise_for_status()
            return response.content


def server_env(
    *, port: int, prefix: str, database_url: str, redis_url: str, ami_port: int, ami_secret: str
) -> dict[str, str]:
    """The product's settings for a bench server (environment variables)."""
    return {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix,
        "DATABASE_URL": database_url,
        "AMI_ENABLED": "true",
        "AMI_HOST": "127.0.0.1",
        "AMI_PORT": str(ami_port),
        "AMI_USERNAME": "bench",
        "AMI_SECRET": ami_secret,
        # Nothing but the scenario's own traffic may write while it is measured.
        "AMI_RECONCILE_INTERVAL": "86400",
        "LOG_FILE": "",
        "LOG_LEVEL": "WARNING",
        "API_TOKENS": "",
        "GRAPHQL_WS_MAX_CONNECTIONS": "100000",
        "GRAPHQL_WS_MAX_CONNECTIONS_PER_CLIENT": "100000",
        "GRAPHQL_SUBSCRIBER_BUFFER": "500",
    }


@asynccontextmanager
async def running_stack(
    operators: int,
    *,
    pg_admin_url: str,
    redis_url: str,
    workdir: Path,
    warm_seconds: float = 60.0,
) -> AsyncIterator[Stack]:
    """Database, simulator and server for `operators` operators; all removed on exit."""
    layout = make_layout(operators)
    model = build_model(layout, warm_seconds=warm_seconds)
    database_url = await create_database(pg_admin_url, layout)
    prefix = f"qs-bench-{uuid.uuid4().hex[:10]}:"
    secret = secrets.token_urlsafe(12)
    simulator = AmiSimulator(username="bench", secret=secret, model=model, realtime=False)
    redis = Redis.from_url(redis_url)
    server: Child | None = None
    stack: Stack | None = None
    try:
        await simulator.start()
        port = free_port()
        env = server_env(
            port=port,
            prefix=prefix,
            database_url=database_url,
            redis_url=redis_url,
            ami_port=simulator.port,
            ami_secret=secret,
        )
        server = await start_child(
            f"server-{operators}", ["-m", "api.cli", "serve"], env=env, workdir=workdir
        )
        url = f"http://127.0.0.1:{port}"
        await wait_http(server, f"{url}/healthz", timeout=120)
        stack = Stack(
            layout=layout,
            model=model,
            simulator=simulator,
            server=server,
            url=url,
            port=port,
            redis=redis,
            store=StateStore(redis, KeySchema(prefix)),
            database_url=database_url,
            redis_url=redis_url,
            workdir=workdir,
            env=env,
        )
        await _wait_reconciled(stack)
        yield stack
    finally:
        # The stack's server may be a later one (restart_server) than the first.
        current = stack.server if stack is not None else server
        if current is not None:
            await current.stop()
        await simulator.stop()
        await delete_prefix(redis, prefix)
        await redis.aclose()
        await drop_database(pg_admin_url, database_url)


async def _wait_reconciled(stack: Stack, timeout: float = 180.0) -> None:
    """Until the server's ingest has applied its first snapshot of the simulator."""
    deadline = time.monotonic() + timeout
    while True:
        stack.server.check_alive()
        status = await stack.sync_status()
        if status.get("amiConnected") and int(status.get("reconciliations") or 0) >= 1:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server never reconciled with the simulator: {status}")
        await asyncio.sleep(0.2)
