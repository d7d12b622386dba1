"""Item 2: Redis killed with -9 and restarted empty, under REST load.

The service runs as its own process on a redis-server of this test, the lab's
queues in PostgreSQL and the simulator as Asterisk. Eight workers hit every
read endpoint (and the runbook's POST) while Redis is killed, stays down two
seconds and comes back empty. While it is down every answer must be a 503 with
Retry-After; nothing may ever be another 5xx or no answer; and the state must
be back — queues with their database configuration, operators from Asterisk —
within 5 s of Redis' return. Once with AMI busy, once with AMI quiet (no event
to fail during the outage, so nothing but Redis' own return says it is empty).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from simulator import AmiSimulator
from tests.reliability.conftest import AMI_SECRET, AppFactory, simulator
from tests.reliability.env import record, timing_goal
from tests.reliability.load import BASE, RestLoad
from tests.reliability.procs import RedisServer, ServiceProcess


def service_env(redis_url: str, database_url: str, ami_port: int, **extra: str) -> dict[str, str]:
    """Environment of a service subprocess on these backends."""
    return {
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "AMI_ENABLED": "true",
        "AMI_HOST": "127.0.0.1",
        "AMI_PORT": str(ami_port),
        "AMI_USERNAME": "admin",
        "AMI_SECRET": AMI_SECRET,
        "AMI_PING_INTERVAL": "5",
        "LOG_LEVEL": "INFO",
        **extra,
    }


def lab_interfaces(sim: AmiSimulator) -> set[str]:
    """Every member interface Asterisk reports."""
    return {
        str(item["Location"])
        for item in sim.model.queue_status()
        if item.get("Event") == "QueueMember"
    }


async def rebuilt(client: httpx.AsyncClient, interfaces: set[str]) -> bool:
    """Operators from Asterisk and queues with their database configuration are all there."""
    operators = await client.get(f"{BASE}/operators")
    queues = await client.get(f"{BASE}/queues")
    if operators.status_code != 200 or queues.status_code != 200:
        return False
    have = {op["memberId"] for op in operators.json()["data"]}
    configured = {q["name"] for q in queues.json()["data"] if "timeout" in q}
    return interfaces <= have and configured == {"sales", "support", "billing"}


async def wait_rebuilt(client: httpx.AsyncClient, interfaces: set[str], timeout: float) -> float:
    """Seconds until `rebuilt`."""
    started = time.perf_counter()
    async with asyncio.timeout(timeout):
        while not await rebuilt(client, interfaces):
            await asyncio.sleep(0.05)
    return time.perf_counter() - started


@pytest.fixture
async def busy_sim() -> AsyncIterator[AmiSimulator]:
    async with simulator(rate=200) as sim:
        yield sim


async def kill_and_restart(
    own_redis: RedisServer, lab_db: str, sim: AmiSimulator, *, quiet: bool
) -> dict[str, float | int]:
    service = ServiceProcess(service_env(own_redis.url, lab_db, sim.port))
    interfaces = lab_interfaces(sim)
    try:
        await service.start()
        async with httpx.AsyncClient(base_url=service.url, timeout=15) as client:
            await wait_rebuilt(client, interfaces, 30)
            if quiet:
                sim.pause_events()
            async with RestLoad(service.url) as load:
                await asyncio.sleep(3)
                killed = time.perf_counter()
                own_redis.kill()
                await asyncio.sleep(2)
                restarting = time.perf_counter()
                await own_redis.start()
                back_at = time.perf_counter()
                took = await wait_rebuilt(client, interfaces, 60)
                await asyncio.sleep(2)
            down = load.between(killed + 0.05, restarting)
            assert down, "no request was answered while Redis was down"
            not_503 = [a for a in down if a.status != 503]
            assert not not_503, f"while Redis was down: {not_503[:5]}"
            bad = load.bad()
            assert not bad, f"unacceptable answers: {bad[:5]}"
            statuses = load.statuses()
            figures: dict[str, float | int] = {
                "requests": len(load.history),
                "whileDown": len(down),
                "http503": statuses[503],
                "otherErrors": len(bad),
                "restartToBackS": round(back_at - restarting + took, 2),
                "worstLatencyS": round(max(a.ended - a.started for a in load.history), 2),
            }
    finally:
        await service.stop()
        output = service.output()
        await service.close()
    assert "Traceback" not in output, output[-3000:]
    return figures


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_redis_kill_restart_under_load_with_busy_ami(
    own_redis: RedisServer, lab_db: str, busy_sim: AmiSimulator
) -> None:
    figures = await kill_and_restart(own_redis, lab_db, busy_sim, quiet=False)
    timing_goal(
        float(figures["restartToBackS"]) < 5, f"back within 5 s ({figures['restartToBackS']} s)"
    )
    record(
        "2",
        "Redis kill -9, down 2 s, restarted empty, 8 REST workers, AMI busy",
        "only 503 + Retry-After while down, no other 5xx, rebuilt from DB + AMI",
        **figures,
    )


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_redis_kill_restart_under_load_with_quiet_ami(
    own_redis: RedisServer, lab_db: str, busy_sim: AmiSimulator
) -> None:
    figures = await kill_and_restart(own_redis, lab_db, busy_sim, quiet=True)
    timing_goal(
        float(figures["restartToBackS"]) < 5, f"back within 5 s ({figures['restartToBackS']} s)"
    )
    record(
        "2b",
        "Redis kill -9 and restart empty as above, AMI quiet (no event during the outage)",
        "rebuilt from DB + AMI all the same (Redis' return is noticed)",
        **figures,
    )


async def test_redis_emptied_while_nothing_is_written_is_rebuilt(
    app_factory: AppFactory, lab_db: str, redis_client: Redis, key_prefix: str
) -> None:
    """Found by the quiet-AMI run above: with no write failing, nothing noticed that Redis came
    back empty, and the wallboard stayed empty until the next periodic reconciliation."""
    async with app_factory(database_url=lab_db) as running:
        assert len((await running.http.get(f"{BASE}/queues")).json()["data"]) == 3
        keys = [key async for key in redis_client.scan_iter(match=f"{key_prefix}*")]
        await redis_client.delete(*keys)  # what a restart or FLUSHALL does to our keys
        started = time.perf_counter()
        async with asyncio.timeout(15):
            while len((await running.http.get(f"{BASE}/queues")).json()["data"]) != 3:
                await asyncio.sleep(0.05)
        took = time.perf_counter() - started
    timing_goal(took < 5, f"rebuilt within 5 s ({took:.2f} s)")
