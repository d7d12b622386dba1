"""Item 6: PostgreSQL connections terminated, and PostgreSQL restarted in the middle of a resync.

Quick (shared PostgreSQL, only this test's own database): every backend of the
app's pool is terminated with pg_terminate_backend; the next resync and
sync-status calls answer (a clear error or success, never a hang, never a 500)
and the call after them succeeds.

Full (a PostgreSQL cluster of the test): a resync is held inside its query by
a lock, and the server is restarted under it. The resync must end with a
clear 503 in bounded time, /healthz must say the database is down meanwhile,
and the next resync after the restart must succeed.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from tests.reliability.conftest import AppFactory, lab_database
from tests.reliability.env import record, timing_goal
from tests.reliability.procs import PostgresCluster

BASE = "/api/queue-status"


async def test_terminated_connections_give_a_clear_answer_then_work(
    app_factory: AppFactory, lab_db: str
) -> None:
    name = lab_db.rsplit("/", 1)[1]
    async with app_factory(database_url=lab_db) as running:
        for _ in range(3):  # the pool holds connections now
            assert (await running.http.post(f"{BASE}/sync/resync")).status_code == 200
        admin = await asyncpg.connect(lab_db)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
        finally:
            await admin.close()
        answers = []
        started = time.perf_counter()
        for path in ("/sync/resync", "/sync/status", "/sync/resync"):
            method = "POST" if path.endswith("resync") else "GET"
            response = await running.http.request(method, f"{BASE}{path}")
            answers.append(response.status_code)
            assert response.status_code in (200, 503), response.text
            if response.status_code == 503:
                assert "database" in response.json()["error"]
        took = time.perf_counter() - started
        final = await running.http.post(f"{BASE}/sync/resync")
        assert final.status_code == 200, final.text
    timing_goal(took < 5, f"answers within 5 s ({took:.2f} s)")
    record(
        "6a",
        "pg_terminate_backend of every pooled connection",
        "each call answered (200 or a clear 503), none hung, the next resync succeeded",
        terminated=killed,
        answers="/".join(map(str, answers)),
        answeredWithinS=round(took, 2),
    )


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_postgres_restarted_in_the_middle_of_a_resync(
    app_factory: AppFactory, own_pg: PostgresCluster
) -> None:
    await own_pg.execute("CREATE DATABASE lab")
    url = await lab_database(own_pg.url("lab"))
    async with app_factory(database_url=url) as running:
        assert (await running.http.post(f"{BASE}/sync/resync")).status_code == 200
        # Hold the resync inside its query: a lock it has to wait for.
        locker = await asyncpg.connect(url)
        await locker.execute("BEGIN")
        await locker.execute("LOCK TABLE queue_members IN ACCESS EXCLUSIVE MODE")
        resync = asyncio.create_task(running.http.post(f"{BASE}/sync/resync"))
        await asyncio.sleep(1.0)
        assert not resync.done(), "the resync did not wait for the lock"
        restarted = time.perf_counter()
        await own_pg.stop("fast")
        response = await asyncio.wait_for(resync, timeout=60)
        answered = time.perf_counter() - restarted
        assert response.status_code == 503, response.text
        message = response.json()["error"]
        assert message.startswith("database unavailable"), message
        assert response.headers.get("Retry-After")
        health = (await running.http.get("/healthz")).json()["data"]
        assert health["database"]["ok"] is False
        assert health["status"] == "degraded"
        with_db_down = await running.http.post(f"{BASE}/sync/resync")
        assert with_db_down.status_code == 503
        await own_pg.start()
        back = time.perf_counter()
        async with asyncio.timeout(30):
            while (await running.http.post(f"{BASE}/sync/resync")).status_code != 200:
                await asyncio.sleep(0.2)
        recovered = time.perf_counter() - back
        health = (await running.http.get("/healthz")).json()["data"]
        assert health["database"]["ok"] is True
        try:
            await locker.close()
        except Exception:  # killed by the restart
            locker.terminate()
    timing_goal(answered < 5, f"the interrupted resync answered within 5 s ({answered:.2f} s)")
    timing_goal(recovered < 5, f"resync works within 5 s of the restart ({recovered:.2f} s)")
    record(
        "6b",
        "PostgreSQL (own cluster) shut down while a resync waits inside its query, then restarted",
        "clear 503 'database unavailable' with Retry-After, /healthz degraded, next call works",
        interruptedAnsweredS=round(answered, 2),
        workingAgainS=round(recovered, 2),
        error=message[:80],
    )
