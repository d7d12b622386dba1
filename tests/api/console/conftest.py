"""A supervisor's lab: the app logged in to a simulated Asterisk through a recording proxy.

The proxy keeps every byte the app sends to AMI, so a test can assert the
exact action that went out (or that none did). Tokens: an unscoped
supervisor, a `sales` supervisor with extension 1009, an admin and a viewer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from gql.client import AsyncClientSession

from simulator import AmiSimulator, CallCentre, CentreConfig
from tests.api.conftest import AppFactory, LiveApp
from tests.support.ami import SECRET
from tests.support.graphql_ws import graphql_ws_session
from tests.support.proxy import FaultProxy

BASE = "/api/queue-status"
ALICE = "Local/1001@agents/n"
BOB = "Local/1002@agents/n"
EVE = "Local/1005@agents/n"
TOKENS = {
    "supervisor": "sup-token",
    "sales": "sales-token",
    "admin": "admin-token",
    "viewer": "view-token",
}
API_TOKENS = (
    "supervisor:sup-token,supervisor:sales-token:sales:1009,admin:admin-token,viewer:view-token"
)


class RecordingProxy(FaultProxy):
    """Forwards AMI and keeps what the client sent upstream."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.sent = bytearray()

    def _passing(self, data: bytes, *, downstream: bool) -> tuple[bytes, bool]:
        if not downstream:
            self.sent += data
        return data, False

    def actions(self, name: str) -> list[dict[str, str]]:
        """Every action `name` sent so far, as header dicts (login excluded)."""
        found = []
        for block in bytes(self.sent).decode().split("\r\n\r\n"):
            headers = dict(line.split(": ", 1) for line in block.split("\r\n") if ": " in line)
            if headers.get("Action", "").lower() == name.lower():
                found.append(headers)
        return found


@dataclass
class Lab:
    """The running lab."""

    app: LiveApp
    sim: AmiSimulator
    proxy: RecordingProxy

    def auth(self, who: str) -> dict[str, str]:
        """The Authorization header of `who`'s token."""
        return {"Authorization": f"Bearer {TOKENS[who]}"}

    async def operator(self, member_id: str) -> dict[str, Any]:
        """The operator as REST serves it now."""
        body = (
            await self.app.client.get(
                f"{BASE}/operators/{_quoted(member_id)}", headers=self.auth("viewer")
            )
        ).json()
        assert body["success"] is True, body
        data: dict[str, Any] = body["data"]
        return data

    async def call_in_progress(self) -> tuple[str, str]:
        """Put a caller through to a `sales` member; (that member, its channel)."""
        self.sim.model.originate("sales", caller_num="5550100", patience=120, talk=120)
        async with asyncio.timeout(20):
            while True:
                self.sim.advance(1.0)
                await asyncio.sleep(0.05)
                for member in (ALICE, BOB, "Local/1003@agents/n"):
                    channel = (await self.operator(member)).get("currentChannel")
                    if channel:
                        return member, str(channel)

    async def audit(self, action: str, count: int = 1) -> list[dict[str, Any]]:
        """The newest `count` audit rows of `action` (waits for the trail to write them)."""
        rows: list[dict[str, Any]] = []
        async with asyncio.timeout(10):
            while True:
                body = (
                    await self.app.client.get(f"{BASE}/audit", headers=self.auth("admin"))
                ).json()
                rows = [row for row in body.get("data", []) if row["action"] == action]
                if len(rows) >= count:
                    return rows[:count]
                await asyncio.sleep(0.05)


def _quoted(member_id: str) -> str:
    return member_id.replace("/", "%2F")


quoted: Callable[[str], str] = _quoted


@asynccontextmanager
async def running_lab(
    live_app: AppFactory, sim: AmiSimulator, **settings: Any
) -> AsyncIterator[Lab]:
    """The app (tokens above, AMI through a recording proxy) logged in to `sim`, once its
    first snapshot is applied."""
    await sim.start()
    proxy = RecordingProxy("127.0.0.1", sim.port)
    await proxy.start()
    try:
        async with live_app(
            ami_enabled=True,
            ami_port=proxy.port,
            ami_username="admin",
            ami_secret=SECRET,
            api_tokens=API_TOKENS,
            **settings,
        ) as app:
            async with asyncio.timeout(20):
                while True:
                    health = (await app.client.get("/healthz")).json()["data"]
                    if health["ami"].get("reconciliations", 0) > 0:
                        break
                    await asyncio.sleep(0.05)
            yield Lab(app, sim, proxy)
    finally:
        await proxy.stop()
        await sim.stop()


@pytest.fixture
async def lab(live_app: AppFactory) -> AsyncIterator[Lab]:
    """The lab centre (sales, support, billing) with PAUSE_REASONS set."""
    sim = AmiSimulator(secret=SECRET, model=CallCentre(CentreConfig.lab(), seed=3), realtime=False)
    async with running_lab(live_app, sim, pause_reasons="lunch,training,coffee") as running:
        yield running


@asynccontextmanager
async def ws_session(lab: Lab, protocol: str, who: str) -> AsyncIterator[AsyncClientSession]:
    """A gql session over `protocol`, authenticated in connection_init as `who`."""
    url = lab.app.url.replace("http://", "ws://") + "/graphql"
    async with graphql_ws_session(url, protocol, TOKENS[who]) as session:
        yield session
