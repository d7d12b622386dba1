"""The wallboard in headless Chromium against the real app with live simulated traffic.

Real uvicorn, real Redis (own prefix), real PostgreSQL (own database), the AMI
simulator producing calls, the app's AMI ingest writing them to Redis, and
the page following the GraphQL subscription.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import api.graphql.fanout
from bench.browser import PAGE_AT_VERSION_JS, page_version, tiles, wait_live
from ingest.patches import Patch
from simulator import TrafficConfig
from tests.browser.conftest import OpenPage, StartCentre

pytestmark = pytest.mark.timeout(120)

# How long a test waits for the page to show something: generous, as a 2-core CI
# machine also runs the server, the ingest and the simulator. Never a measurement.
SHOWS_MS = 10_000
CATCH_UP = 15.0

# Brisk traffic for the big call centre: about 3 callers a second.
BUSY_TRAFFIC = TrafficConfig(
    arrival_rate=3.0, mean_patience=60.0, mean_talk=20.0, pause_rate=3.0, mean_pause=30.0
)

SET_STATUS = """
mutation Set($input: SetOperatorStatusInput!) {
  setOperatorStatus(input: $input) { memberId status version }
}"""


async def redis_memberships(centre: Any) -> set[tuple[str, str]]:
    """(memberId, queue) of every operator in Redis."""
    operators = await centre.store.all("operator")
    return {(op["memberId"], queue) for op in operators for queue in op.get("queues") or {}}


async def test_shows_every_operator_in_redis_with_live_traffic(
    call_centre: StartCentre, open_page: OpenPage
) -> None:
    async with call_centre(extra_operators=200, traffic=BUSY_TRAFFIC) as centre:
        watched = await open_page(centre.server.url)
        page = watched.page
        await wait_live(page)

        # Live traffic reaches the page: calls appear on tiles and in the calls panel.
        await page.wait_for_function(
            "() => document.querySelectorAll('.tile.st-in_call, .tile.st-ringing').length >= 3"
            " && document.querySelectorAll('#calls .call').length >= 1",
            timeout=30_000,
        )
        operator_ids = await centre.store.ids("operator")
        assert len(operator_ids) >= 214

        expected = await redis_memberships(centre)
        async with asyncio.timeout(CATCH_UP):
            while set(await tiles(page)) != expected:
                await asyncio.sleep(0.2)  # an operator may have just joined or left a queue
        shown = await tiles(page)
        assert {member for member, _ in shown} == operator_ids

        # Every asset and connection stayed on this origin (no CDN), and nothing failed.
        origin = urlsplit(centre.server.url).netloc
        assert all(urlsplit(url).netloc == origin for url in watched.requests), watched.requests
        assert watched.errors == []


@pytest.mark.parametrize("delivery", ["every batch", "coalesced"])
async def test_follows_live_traffic_at_200_operators(
    call_centre: StartCentre, open_page: OpenPage, delivery: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Correctness only: how smoothly it follows (long tasks, frames) is a figure of
    # `make bench` (bench/wallboard.py), as timing depends on the machine.
    if delivery == "coalesced":
        # One subscriber gets every batch at once; as under a thousand, it gets one
        # message per window with many versions in it.
        monkeypatch.setattr(api.graphql.fanout, "SENDS_PER_SECOND", 25)
    async with call_centre(extra_operators=200, traffic=BUSY_TRAFFIC) as centre:
        watched = await open_page(centre.server.url)
        page = watched.page
        await wait_live(page)

        # On top of the simulator's traffic: 2,000 status changes in 2 seconds,
        # in batches as the ingest writes them (one store version per change).
        ids = sorted(await centre.store.ids("operator"))
        statuses = ("idle", "ringing", "in_call", "on_hold", "unavailable")
        for batch in range(100):
            now = int(time.time() * 1000)
            await centre.store.apply(
                [
                    Patch(
                        "operator",
                        ids[(batch * 20 + n) % len(ids)],
                        {"status": statuses[(batch + n) % len(statuses)], "statusSince": now},
                    )
                    for n in range(20)
                ]
            )
            await asyncio.sleep(0.02)

        # The page catches up with Redis: the same version and the same states.
        async with asyncio.timeout(CATCH_UP):
            while await page_version(page) < (await centre.store.snapshot()).version:
                await asyncio.sleep(0.1)
        # The tiles against Redis at the same version: the simulator keeps changing
        # operators, so a page a window behind Redis is not a lost change.
        labels = {"in_call": "in_call", "busy": "in_call", "invalid": "unavailable"}
        async with asyncio.timeout(CATCH_UP):
            while True:
                snapshot = await centre.store.snapshot()
                shown: dict[str, Any] = await page.evaluate(PAGE_AT_VERSION_JS)
                if int(shown["version"]) == snapshot.version:
                    break
                await asyncio.sleep(0.02)
        operators = {op["memberId"]: op for op in snapshot.operators}
        mismatched = [
            (member, queue, state)
            for member, queue, state in shown["tiles"]
            if state in ("idle", "ringing", "in_call", "on_hold", "unavailable")
            and labels.get(operators[member]["status"], operators[member]["status"]) != state
        ]
        assert mismatched == []
        assert watched.errors == []


async def test_a_mutation_shows_on_the_tile(call_centre: StartCentre, open_page: OpenPage) -> None:
    # That it shows, not how fast: the time to the tile is a `make bench` figure.
    async with call_centre() as centre:
        watched = await open_page(centre.server.url)
        page = watched.page
        await wait_live(page)
        member = "PJSIP/1003"  # in one queue (sales)
        current = await centre.store.get("operator", member)
        assert current is not None
        target = "ON_HOLD" if current["status"] != "on_hold" else "UNAVAILABLE"
        expected = {"ON_HOLD": "on_hold", "UNAVAILABLE": "unavailable"}[target]

        await centre.server.graphql(SET_STATUS, {"input": {"memberId": member, "status": target}})
        await page.wait_for_function(
            "([member, state]) => [...document.querySelectorAll('.tile')]"
            ".some((t) => t.dataset.member === member && t.dataset.state === state)",
            arg=[member, expected],
            timeout=SHOWS_MS,
            polling="raf",
        )

        # A pause with its reason, as the runbook's supervisor would set it.
        await centre.server.graphql(
            SET_STATUS,
            {
                "input": {
                    "memberId": "PJSIP/1004",
                    "status": "IDLE",
                    "paused": True,
                    "pausedReason": "coaching",
                }
            },
        )
        await page.wait_for_function(
            "() => [...document.querySelectorAll('.tile')].some((t) =>"
            " t.dataset.member === 'PJSIP/1004' && t.textContent.includes('coaching'))",
            timeout=SHOWS_MS,
            polling="raf",
        )
        assert watched.errors == []


async def test_server_going_away_shows_a_banner_and_recovers_without_reload(
    call_centre: StartCentre, open_page: OpenPage
) -> None:
    async with call_centre() as centre:
        watched = await open_page(centre.server.url)
        page = watched.page
        await wait_live(page)
        await page.evaluate("() => { window.__sameDocument = true; }")
        assert await page.locator("#banner").is_hidden()

        await centre.server.stop()
        await page.locator("#banner").wait_for(state="visible", timeout=SHOWS_MS)
        assert "lost" in (await page.locator("#banner").inner_text()).lower()
        assert await page.evaluate("() => document.body.dataset.link") == "offline"
        assert await page.locator(".tile").count() > 0  # the last known state stays up

        await centre.restart()  # a new server process on the same port
        await wait_live(page, timeout_ms=20_000)
        await page.locator("#banner").wait_for(state="hidden", timeout=SHOWS_MS)
        assert await page.evaluate("() => window.__sameDocument === true"), "the page reloaded"

        # Subscribed again: a change on the new server reaches the tile.
        await centre.server.graphql(
            SET_STATUS,
            {
                "input": {
                    "memberId": "PJSIP/1001",
                    "status": "IDLE",
                    "paused": True,
                    "pausedReason": "back-after-restart",
                }
            },
        )
        await page.wait_for_function(
            "() => [...document.querySelectorAll('.tile')].some((t) =>"
            " t.dataset.member === 'PJSIP/1001' && t.textContent.includes('back-after-restart'))",
            timeout=SHOWS_MS,
            polling="raf",
        )
        # The only errors are the browser's own reports of the refused reconnects.
        assert all("WebSocket" in e or "Failed to load" in e for e in watched.errors), (
            watched.errors
        )


async def test_token_from_the_address_opens_a_protected_server(
    call_centre: StartCentre, open_page: OpenPage
) -> None:
    async with call_centre(api_tokens="viewer:wall-token,supervisor:sup-token") as centre:
        refused = await open_page(centre.server.url)
        await refused.page.locator("#banner").wait_for(state="visible", timeout=10_000)
        assert "token" in (await refused.page.locator("#banner").inner_text()).lower()
        assert await refused.page.locator(".tile").count() == 0

        watched = await open_page(f"{centre.server.url}/?token=wall-token")
        page = watched.page
        await wait_live(page)
        assert await page.locator(".tile").count() >= 14
        assert "token" not in page.url  # taken out of the address bar and history
        assert await page.evaluate("() => localStorage.getItem('queue-status.token')") == (
            "wall-token"
        )


async def test_page_is_served_with_a_strict_content_security_policy(
    call_centre: StartCentre,
) -> None:
    async with call_centre() as centre, httpx.AsyncClient(base_url=centre.server.url) as http:
        page = await http.get("/")
        script = await http.get("/static/wallboard/app.js")
        missing = await http.get("/static/wallboard/nope.js")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "connect-src 'self' ws: wss:" in policy
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert script.headers["content-security-policy"] == policy
    assert missing.status_code == 404
