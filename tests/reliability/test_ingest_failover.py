"""Item 24: two `serve --role ingest` candidates of one PBX, the leader killed, then paused.

Real processes on the shared Redis (the test's prefix), the lab's queues in
PostgreSQL and the simulator as Asterisk (model time moved by the test). One
candidate leads and the other stands by (each says so on its own /healthz).
`kill -9` of the leader: the standby leads within 5 s with the next epoch, and
after its reconciliation the state equals the simulator's truth although calls
went on while nobody listened. Then a third candidate joins and the leader is
SIGSTOPped past its lease: the third one leads; on SIGCONT the old leader steps
down (its lease ran out, or a write of its was refused as stale: both stop
its AMI consumption) and the state still equals the truth. `make test` runs the
quick in-process version (tests/ingest/test_election.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from ingest.keys import KeySchema
from ingest.store import StateStore
from simulator import AmiSimulator
from tests.reliability.conftest import AMI_SECRET
from tests.reliability.env import record
from tests.reliability.procs import ServiceProcess
from tests.support.busy_lab import lab, traffic
from tests.support.expected import state_view, truth_view, without_fields

LEASE = "1.5"
FAILOVER_GOAL = 5.0


@pytest.fixture
async def sim() -> AsyncIterator[AmiSimulator]:
    """The lab with traffic; model time moves only with `advance` (`traffic`)."""
    async with AmiSimulator(secret=AMI_SECRET, model=lab(), realtime=False) as simulator:
        yield simulator


def _candidate(sim: AmiSimulator, key_prefix: str, database_url: str) -> ServiceProcess:
    service = ServiceProcess(
        {
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "REDIS_KEY_PREFIX": key_prefix,
            "DATABASE_URL": database_url,
            "AMI_HOST": "127.0.0.1",
            "AMI_PORT": str(sim.port),
            "AMI_USERNAME": "admin",
            "AMI_SECRET": AMI_SECRET,
            "INGEST_LEASE_SECONDS": LEASE,
            "LOG_LEVEL": "INFO",
        },
        harness=False,
    )
    service.command += ["--role", "ingest"]
    return service


async def _health(client: httpx.AsyncClient, service: ServiceProcess) -> dict[str, Any]:
    response = await client.get(f"{service.url}/healthz", headers={"Connection": "close"})
    body: dict[str, Any] = response.json()["data"]
    return body


async def _until_leadership(
    client: httpx.AsyncClient, service: ServiceProcess, leadership: str, timeout: float
) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            health = await _health(client, service)
            if health["leadership"] == leadership:
                return health
            await asyncio.sleep(0.05)


async def _until_truth(store: StateStore, sim: AmiSimulator, timeout: float = 15.0) -> None:
    """The store equals the simulator's truth (LastCall aside: the ingest's clock)."""
    expected = without_fields(truth_view(sim.truth()), "last_call")
    ours: Any = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                ours = without_fields(state_view(await store.snapshot()), "last_call")
                if ours == expected:
                    return
                await asyncio.sleep(0.1)
    except TimeoutError:
        assert ours == expected


@pytest.mark.slow  # about 30 s of real processes: `make test` has the in-process version
async def test_the_standby_leads_after_a_kill_and_a_paused_leader_steps_down(
    sim: AmiSimulator, key_prefix: str, lab_db: str, redis_client: Redis
) -> None:
    store = StateStore(redis_client, KeySchema(key_prefix))
    first = _candidate(sim, key_prefix, lab_db)
    second = _candidate(sim, key_prefix, lab_db)
    third = _candidate(sim, key_prefix, lab_db)
    async with httpx.AsyncClient(timeout=3) as client:
        try:
            await first.start()
            leader = await _until_leadership(client, first, "leader", 10)
            await second.start()
            standby = await _health(client, second)
            assert (leader["role"], standby["role"]) == ("ingest", "ingest")
            assert standby["leadership"] == "standby" and standby["epoch"] == leader["epoch"]
            assert (await client.get(f"{second.url}/api/operators")).status_code == 404
            await traffic(sim, 60)
            await _until_truth(store, sim)

            assert first.process is not None
            first.process.kill()  # kill -9: no release, the lease runs out
            killed_at = time.perf_counter()
            await traffic(sim, 60)  # calls go on while nobody listens
            took_over = await _until_leadership(client, second, "leader", FAILOVER_GOAL + 2)
            failover = time.perf_counter() - killed_at
            assert failover < FAILOVER_GOAL
            assert took_over["epoch"] == leader["epoch"] + 1 and took_over["failovers"] == 1
            await _until_truth(store, sim)

            await third.start()
            os.kill(second.pid, signal.SIGSTOP)
            paused_at = time.perf_counter()
            await _until_leadership(client, third, "leader", FAILOVER_GOAL + 2)
            second_failover = time.perf_counter() - paused_at
            await traffic(sim, 30)  # events wait in the paused leader's socket
            os.kill(second.pid, signal.SIGCONT)
            deposed = await _until_leadership(client, second, "standby", 5)
            metrics = (await client.get(f"{second.url}/metrics")).text
            assert 'queue_status_ingest_stepdowns_total{reason="' in metrics
            await traffic(sim, 30)
            await _until_truth(store, sim)
            third_health = await _health(client, third)
            assert third_health["leadership"] == "leader"
            assert third_health["epoch"] == took_over["epoch"] + 1
        finally:
            if second.process is not None and second.process.poll() is None:
                os.kill(second.pid, signal.SIGCONT)
            for service in (first, second, third):
                await service.close()
    record(
        "24",
        "ingest leader killed (-9), then paused past its lease (SIGSTOP/SIGCONT)",
        "standby leads with the next epoch; state equals Asterisk's after its reconcile; "
        "the paused leader steps down",
        failover_s=round(failover, 2),
        paused_failover_s=round(second_failover, 2),
        lease_s=float(LEASE),
        stale_writes_refused=deposed["staleWritesRefused"],
    )
