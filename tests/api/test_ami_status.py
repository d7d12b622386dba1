"""AMI down is degraded, not dead: the real app against a simulated Asterisk.

The app (`create_app` with AMI enabled, real uvicorn, real Redis and
PostgreSQL) logs in to an `AmiSimulator` running the lab call centre. While
connected, /healthz says "ok" and /sync/status carries the ingest's figures;
with the simulator gone it says "degraded" (still 200) and REST keeps serving
the last known state; with the simulator back on the same port, the app
reconnects and the reconciliation brings what happened meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from simulator import LEAST_PRIVILEGE, AmiSimulator, CallCentre, CentreConfig
from tests.api.conftest import AppFactory, LiveApp
from tests.support.ami import SECRET

BASE = "/api/queue-status"
ALICE = "Local/1001@agents/n"
BOB = "Local/1002@agents/n"
LAB_OPERATORS = 5


async def poll(
    app: LiveApp, path: str, done: Callable[[dict[str, Any]], bool], timeout: float = 20.0
) -> dict[str, Any]:
    """GET `path` until its JSON body satisfies `done` (200 or not); that body."""
    body: dict[str, Any] = {}
    try:
        async with asyncio.timeout(timeout):
            while True:
                body = (await app.client.get(path)).json()
                if done(body):
                    return body
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"{path} never got there; last answer: {body}") from None


def operator(body: dict[str, Any], member_id: str) -> dict[str, Any]:
    (found,) = [op for op in body["data"] if op["memberId"] == member_id]
    assert isinstance(found, dict)
    return found


async def test_ami_down_is_degraded_and_the_last_state_is_still_served(
    live_app: AppFactory,
) -> None:
    model = CallCentre(CentreConfig.lab(), seed=1)
    sim = AmiSimulator(secret=SECRET, model=model, realtime=False)
    await sim.start()
    port = sim.port
    try:
        async with live_app(
            ami_enabled=True, ami_port=port, ami_username="admin", ami_secret=SECRET
        ) as app:
            health = await poll(app, "/healthz", lambda b: b["data"]["ami"]["reconciliations"] > 0)
            assert health["success"] is True
            assert health["data"]["status"] == "ok"
            assert health["data"]["ami"]["amiConnected"] is True

            # An event goes all the way: AMI → ingest → Redis → REST.
            model.queue_pause(ALICE, True, queue="sales", reason="lunch")
            sim.flush()
            body = await poll(app, f"{BASE}/operators", lambda b: operator(b, ALICE)["paused"])
            assert body["count"] == LAB_OPERATORS
            status = (await app.client.get(f"{BASE}/sync/status")).json()["data"]
            assert status["amiConnected"] is True
            assert status["lastEventAt"] is not None
            assert status["eventsReceived"] >= status["eventsApplied"] > 0
            assert status["driftCorrections"] == 0

            # The ingest queue and the event loop, the same figures in /healthz and /metrics.
            health = (await app.client.get("/healthz")).json()["data"]
            metrics = (await app.client.get("/metrics")).text
            ami = health["ami"]
            assert ami["ingestQueueMax"] == 5000 and ami["ingestReadingPaused"] is False
            assert ami["ingestQueueDepthMax"] >= ami["ingestQueueDepth"] >= 0
            assert f"queue_status_ingest_queue_max {ami['ingestQueueMax']:.1f}" in metrics
            assert f"queue_status_ingest_read_pauses_total {ami['ingestReadPauses']:.1f}" in metrics
            assert "queue_status_ingest_read_paused_seconds_total" in metrics
            assert "queue_status_ingest_queue_depth " in metrics
            assert set(health["eventLoop"]) == {
                "lagMs",
                "maxLagMs",
                "ownMaxLagMs",
                "maxLagWindowSeconds",
                "stalls",
                "stallMs",
            }
            assert "queue_status_event_loop_lag_max_seconds" in metrics
            assert "queue_status_event_loop_stalls_total" in metrics

            # Asterisk goes away: degraded, and the last known state is still served.
            await sim.stop()
            down = await poll(app, "/healthz", lambda b: not b["data"]["ami"]["amiConnected"])
            assert down["success"] is True
            assert down["data"]["status"] == "degraded"
            assert down["data"]["ami"]["stateStale"] is True
            assert down["data"]["ami"]["amiLastError"]
            response = await app.client.get(f"{BASE}/operators")
            assert response.status_code == 200
            assert response.json()["count"] == LAB_OPERATORS
            assert operator(response.json(), ALICE)["paused"] is True
            assert (await app.client.get(f"{BASE}/sync/status")).json()["data"][
                "amiConnected"
            ] is False

            # Meanwhile Bob pauses; nobody hears the event. Asterisk comes back.
            model.queue_pause(BOB, True, reason="training")
            model.drain()
            sim = AmiSimulator(port=port, secret=SECRET, model=model, realtime=False)
            await sim.start()
            back = await poll(
                app,
                "/healthz",
                lambda b: (
                    b["data"]["ami"]["amiConnected"] and b["data"]["ami"]["reconciliations"] > 1
                ),
            )
            assert back["data"]["status"] == "ok"
            assert back["data"]["ami"]["amiReconnects"] >= 1
            assert back["data"]["ami"]["driftCorrections"] > 0
            body = (await app.client.get(f"{BASE}/operators")).json()
            assert operator(body, BOB)["paused"] is True
            assert operator(body, ALICE)["paused"] is True
    finally:
        await sim.stop()


async def test_resync_and_health_with_a_least_privilege_manager_user(
    live_app: AppFactory,
) -> None:
    """CoreShowChannels and DeviceStateList refused: the app runs on QueueStatus alone,
    says so in /healthz and /sync/status, and a resync takes Asterisk's snapshot again."""
    model = CallCentre(CentreConfig.lab(), seed=1)
    sim = AmiSimulator(secret=SECRET, model=model, realtime=False, privileges=LEAST_PRIVILEGE)
    refused = {
        "queueStatus": "ok",
        "coreShowChannels": "permission denied",
        "deviceStateList": "permission denied",
    }
    async with (
        sim,
        live_app(
            ami_enabled=True, ami_port=sim.port, ami_username="admin", ami_secret=SECRET
        ) as app,
    ):
        health = await poll(app, "/healthz", lambda b: b["data"]["ami"]["reconciliations"] > 0)
        assert health["data"]["status"] == "ok"
        assert health["data"]["ami"]["snapshotSources"] == refused
        status = (await app.client.get(f"{BASE}/sync/status")).json()["data"]
        assert status["snapshotSources"] == refused

        # Something no event told (a penalty changed in queues.conf, say), then a resync.
        model.queue_penalty(BOB, 5, queue="sales")
        model.drain()
        reply = await app.client.post(f"{BASE}/sync/resync")
        assert reply.status_code == 200
        body = await poll(
            app,
            f"{BASE}/operators",
            lambda b: operator(b, BOB)["queues"]["sales"]["penalty"] == 5,
        )
        assert body["count"] == LAB_OPERATORS
        after = (await app.client.get("/healthz")).json()["data"]["ami"]
        assert after["reconciliations"] >= 2
        assert after["snapshotSources"] == refused
