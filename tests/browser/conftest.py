"""Browser tests: Debian's headless Chromium, driven by Playwright, against the real app.

Never a downloaded browser: Playwright launches /usr/bin/chromium (`make
browser-deps` installs it; `bench.browser` holds what the tests and the
bench's wallboard scenario share). Without it these tests skip and say why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page
from redis.asyncio import Redis

from bench.browser import chromium, chromium_missing
from ingest.db.engine import make_engine
from ingest.db.migrate import migrate
from ingest.db.seed import seed_demo
from ingest.keys import KeySchema
from ingest.store import StateStore
from simulator import AmiSimulator, CentreConfig, TrafficConfig
from simulator import CallCentre as SimulatedCentre
from simulator.from_db import DEMO_TRAFFIC
from tests.browser.floor import FloorAgent, configure, floor_agents, set_live_states
from tests.browser.live import (
    SIMULATOR_SECRET,
    AppServer,
    add_operators,
    free_port,
    simulated_pbx,
    wallboard_app,
)
from tests.support.settings import test_settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the tests that need a browser, with the reason, when Debian's Chromium is missing."""
    reason = chromium_missing()
    if reason is None:
        return
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Debian Chromium."""
    async with chromium() as launched:
        yield launched


@dataclass
class WatchedPage:
    """A page with what it logged and requested, for assertions."""

    page: Page
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


OpenPage = Callable[..., Awaitable[WatchedPage]]


@pytest.fixture
async def open_page(browser: Browser) -> AsyncIterator[OpenPage]:
    """`await open_page(url, width, height)`: a new page collecting errors and requests."""
    contexts = []

    async def open_(url: str, width: int = 1920, height: int = 1080) -> WatchedPage:
        context = await browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = await context.new_page()
        watched = WatchedPage(page)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                watched.errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: watched.errors.append(str(error)))
        page.on("request", lambda request: watched.requests.append(request.url))
        page.on("websocket", lambda ws: watched.requests.append(ws.url))
        await page.goto(url)
        return watched

    yield open_
    for context in contexts:
        await context.close()


@dataclass
class CallCentre:
    """The app serving a simulated call centre with live traffic, and its Redis state."""

    server: AppServer
    store: StateStore
    simulator: AmiSimulator

    async def restart(self) -> None:
        """A new app instance on the same port (as a redeploy would)."""
        await self.server.stop()
        self.server = AppServer(
            wallboard_app(self.server.settings), self.server.settings, self.server.port
        )
        await self.server.start()


StartCentre = Callable[..., AbstractAsyncContextManager[CallCentre]]


async def _app_on(
    simulator: AmiSimulator, pg_url: str, key_prefix: str, overrides: dict[str, object]
) -> AppServer:
    """The wallboard app started against `simulator`, its AMI ingest running."""
    settings = test_settings(
        prefix=key_prefix,
        database_url=pg_url,
        ami_enabled=True,
        ami_host="127.0.0.1",
        ami_port=simulator.port,
        ami_secret=SIMULATOR_SECRET,
        **overrides,
    )
    server = AppServer(wallboard_app(settings), settings, free_port())
    await server.start()
    if not await server.runs_its_own_ingest():
        await server.stop()
        raise AssertionError("the app does not run the AMI ingest (AMI_ENABLED): no live traffic")
    return server


@pytest.fixture
def call_centre(pg_url: str, key_prefix: str, redis_client: Redis) -> StartCentre:
    """`async with call_centre(extra_operators=0, traffic=…, **settings) as centre`."""

    @asynccontextmanager
    async def start(
        *, extra_operators: int = 0, traffic: TrafficConfig = DEMO_TRAFFIC, **overrides: object
    ) -> AsyncIterator[CallCentre]:
        await migrate(pg_url)
        engine = make_engine(pg_url)
        try:
            await seed_demo(engine)
        finally:
            await engine.dispose()
        if extra_operators:
            await add_operators(pg_url, extra_operators, ("billing", "sales", "support", "vip"))
        async with simulated_pbx(pg_url, traffic=traffic) as simulator:
            server = await _app_on(simulator, pg_url, key_prefix, overrides)
            centre = CallCentre(server, StateStore(redis_client, KeySchema(key_prefix)), simulator)
            try:
                yield centre
            finally:
                await centre.server.stop()

    return start


@dataclass
class LabCentre:
    """The app on the recorded lab's call centre (simulated, no generated traffic)."""

    server: AppServer
    simulator: AmiSimulator
    model: SimulatedCentre

    def member(self, queue: str, interface: str) -> dict[str, object] | None:
        """The simulated Asterisk's own view of one membership (what QueueStatus would say)."""
        found = self.model.truth()["members"].get(queue, {}).get(interface)
        return dict(found) if found is not None else None


StartLab = Callable[..., AbstractAsyncContextManager[LabCentre]]


@pytest.fixture
def lab_centre(pg_url: str, key_prefix: str, redis_client: Redis) -> StartLab:
    """`async with lab_centre(**settings) as lab`: sales = Alice, Bob, Carol; support = Eve,
    Dave, Bob; billing empty (static members, `Local/10xx@agents/n`); AMI on, so the
    supervisor console acts on the simulator."""

    @asynccontextmanager
    async def start(**overrides: object) -> AsyncIterator[LabCentre]:
        await migrate(pg_url)
        model = SimulatedCentre(CentreConfig.lab(), seed=1)
        async with AmiSimulator(secret=SIMULATOR_SECRET, model=model) as simulator:
            server = await _app_on(simulator, pg_url, key_prefix, overrides)
            try:
                yield LabCentre(server, simulator, model)
            finally:
                await server.stop()

    return start


@dataclass
class Floor:
    """The app over a large floor (AMI off: the states are written straight into Redis)."""

    server: AppServer
    store: StateStore
    agents: list[FloorAgent]


StartFloor = Callable[..., AbstractAsyncContextManager[Floor]]


@pytest.fixture
def floor(pg_url: str, key_prefix: str, redis_client: Redis) -> StartFloor:
    """`async with floor(operators=1000, queues=10, **settings) as floor`."""

    @asynccontextmanager
    async def start(
        *, operators: int = 1000, queues: int = 10, **overrides: object
    ) -> AsyncIterator[Floor]:
        await migrate(pg_url)
        agents = floor_agents(operators, queues)
        await configure(pg_url, agents)
        settings = test_settings(prefix=key_prefix, database_url=pg_url, **overrides)
        server = AppServer(wallboard_app(settings), settings, free_port())
        await server.start()
        try:
            store = StateStore(redis_client, KeySchema(key_prefix))
            await set_live_states(store, agents)
            yield Floor(server, store, agents)
        finally:
            await server.stop()

    return start
