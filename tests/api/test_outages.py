"""Redis or the database going away degrades visibly and heals without a restart."""

from __future__ import annotations

import asyncio

from tests.api.conftest import AppFactory
from tests.support.proxy import FaultProxy

BASE = "/api/queue-status"


async def test_redis_down_is_503_then_recovers(
    live_app: AppFactory, redis_proxy: FaultProxy
) -> None:
    url = f"redis://127.0.0.1:{redis_proxy.port}/0"
    async with live_app(redis_url=url) as app:
        assert (await app.client.get(f"{BASE}/operators")).json()["count"] == 4
        redis_proxy.refuse()
        for path in ("/operators", "/snapshot", "/sync/status", "/operators/PJSIP%2F1001"):
            response = await app.client.get(f"{BASE}{path}")
            assert response.status_code == 503, path
            assert response.json() == {
                "success": False,
                "error": "Redis is unavailable; retry shortly",
            }
            assert response.headers["Retry-After"] == "5"
        post = await app.client.post(
            f"{BASE}/operators", json={"memberId": "PJSIP/1001", "status": "idle"}
        )
        assert post.status_code == 503
        health = await app.client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["data"]["redis"]["ok"] is False
        assert health.json()["data"]["status"] == "down"
        ready = await app.client.get("/readyz")
        assert ready.status_code == 503 and ready.headers["Retry-After"] == "5"
        assert ready.json()["data"]["redis"] is False

        redis_proxy.restore()
        # Healed within 10 s: the operators again, and a healthy /healthz. (Right after Redis
        # returns, a request may still meet a pooled connection the outage closed.)
        async with asyncio.timeout(10):
            while (recovered := await app.client.get(f"{BASE}/operators")).status_code != 200:
                await asyncio.sleep(0.1)
            while (await app.client.get("/healthz")).status_code != 200:
                await asyncio.sleep(0.1)
            while (await app.client.get("/readyz")).status_code != 200:
                await asyncio.sleep(0.1)
        assert recovered.json()["count"] == 4
        metrics = (await app.client.get("/metrics")).text
        assert "queue_status_redis_errors_total" in metrics


async def test_database_down_at_startup_is_retried_and_redis_still_serves(
    live_app: AppFactory, runbook_db: str
) -> None:
    # Fill Redis from the real database first.
    async with live_app() as app:
        assert (await app.client.get(f"{BASE}/operators")).json()["count"] == 4
    dead = "postgresql://postgres:hunter2-secret@127.0.0.1:1/nowhere"
    async with live_app(database_url=dead) as app:
        # The API serves what Redis holds while the database is down.
        assert (await app.client.get(f"{BASE}/operators")).json()["count"] == 4
        health = await app.client.get("/healthz")
        assert health.status_code == 200
        assert health.json()["data"]["status"] == "degraded"
        assert health.json()["data"]["database"]["ok"] is False
        status = await app.client.get(f"{BASE}/sync/status")
        assert status.status_code == 200
        assert status.json()["data"]["dbMembers"] is None
        resync = await app.client.post(f"{BASE}/sync/resync")
        assert resync.status_code == 503
        assert resync.json()["success"] is False
        for response in (health, status, resync):
            assert "hunter2-secret" not in response.text
