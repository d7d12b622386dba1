"""A live call centre for the browser tests and the screenshot.

The real app (create_app + mount_wallboard) under a real uvicorn server that
can be stopped and started again on the same port, a simulated Asterisk (the
AMI simulator over the call centre configured in the database) producing live
traffic, which the app's own AMI ingest (AMI_ENABLED) turns into live state.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.server import uvicorn_config
from api.settings import Settings
from api.wallboard import mount_wallboard
from ingest.db.engine import make_engine
from ingest.db.repository import load_config
from simulator import AmiSimulator, CallCentre, TrafficConfig
from simulator.from_db import DEMO_TRAFFIC, centre_from_db

SIMULATOR_SECRET = "wallboard-sim-secret"  # a test PBX on loopback

_FIRST = ("Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Ines", "Jon", "Kai", "Lena", "Milo")
_LAST = ("Adler", "Baptiste", "Chen", "Dahl", "Evans", "Ferreira", "Grant", "Holm", "Ito", "Jansen")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def add_operators(database_url: str, count: int, queues: Sequence[str]) -> None:
    """`count` more realtime members (PJSIP/2000…), spread over `queues`, some in two."""
    rows: list[tuple[str, str, str, int, int]] = []
    for n in range(count):
        interface = f"PJSIP/{2000 + n}"
        name = f"{_FIRST[n % len(_FIRST)]} {_LAST[(n // len(_FIRST)) % len(_LAST)]}"
        home = queues[n % len(queues)]
        rows.append((home, interface, name, 0, 1000 + 2 * n))
        if n % 5 == 0:  # every fifth also answers the next queue, at a higher penalty
            rows.append((queues[(n + 1) % len(queues)], interface, name, 2, 1001 + 2 * n))
    connection = await asyncpg.connect(database_url)
    try:
        await connection.executemany(
            "INSERT INTO queue_members (queue_name, interface, membername, state_interface,"
            " penalty, uniqueid) VALUES ($1, $2, $3, $2, $4, $5)",
            rows,
        )
    finally:
        await connection.close()


@asynccontextmanager
async def simulated_pbx(
    database_url: str, *, traffic: TrafficConfig = DEMO_TRAFFIC, seed: int = 7
) -> AsyncIterator[AmiSimulator]:
    """An AMI simulator on a free port over the call centre the database configures."""
    engine = make_engine(database_url)
    try:
        config = await load_config(engine)
    finally:
        await engine.dispose()
    centre = centre_from_db(config.queues, config.members, traffic=traffic, seed=seed)
    async with AmiSimulator(secret=SIMULATOR_SECRET, model=CallCentre(centre, seed=seed)) as sim:
        yield sim


def wallboard_app(settings: Settings, **resources: Any) -> FastAPI:
    """The product's app with the wallboard mounted (as api.app will do it)."""
    app = create_app(settings, **resources)
    # Tolerate an api.app that already mounts it (the lead is wiring it in).
    if not any(getattr(route, "path", None) == "/" for route in app.routes):
        mount_wallboard(app)
    return app


class AppServer:
    """uvicorn serving one app on a fixed port; stop() and start() again on the same port."""

    def __init__(self, app: FastAPI, settings: Settings, port: int) -> None:
        self.app = app
        self.settings = settings
        self.port = port
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Serve; return once the socket listens and the lifespan has started."""
        server = uvicorn.Server(uvicorn_config(self.app, self.settings, port=self.port))
        task = asyncio.create_task(server.serve())
        async with asyncio.timeout(15):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("the server stopped during startup")
                await asyncio.sleep(0.01)
        self._server, self._task = server, task

    async def stop(self) -> None:
        """Shut down (open WebSockets are closed) and wait until the port is free."""
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await asyncio.wait_for(self._task, timeout=15)
        self._server = self._task = None

    async def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> Any:
        """POST one GraphQL operation; its `data` (errors fail the test)."""
        async with httpx.AsyncClient(base_url=self.url) as http:
            response = await http.post(
                "/graphql", json={"query": query, "variables": dict(variables or {})}
            )
        body = response.json()
        assert response.status_code == 200 and not body.get("errors"), body
        return body["data"]

    async def runs_its_own_ingest(self) -> bool:
        """Whether the app consumes AMI (its /healthz reports the ingest)."""
        async with httpx.AsyncClient(base_url=self.url) as http:
            health = (await http.get("/healthz")).json()
        return bool(health["data"]["ami"].get("amiEnabled"))
