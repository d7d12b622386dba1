"""Item 24: two `serve --role ingest` candidates of one PBX and two `serve --role api`
replicas with subscribers; the leader killed, then paused.

Real processes on the shared Redis (the test's prefix), the lab's queues in
PostgreSQL and the simulator as Asterisk (model time moved by the test). One
candidate leads and the other stands by (each says so on its own /healthz).
Two `api` replicas serve the same state, each with `changes` subscribers
(graphql-transport-ws, `tests.reliability.subscribers`) from before the kill.
`kill -9` of the leader: the standby leads within 5 s with the next epoch, and
after its reconciliation the state equals the simulator's truth although calls
went on while nobody listened; a REST snapshot on each replica equals it too.
No event is applied twice: after the new leader's reconcile, with the periodic
one off, more traffic moves the queues' completed/abandoned and the members'
calls-taken counters by events only, and they still equal Asterisk's — one
event applied twice (the dead leader's, the new one's) would leave a counter
above it. Then a third candidate joins and the leader is SIGSTOPped past its
lease: the third one leads; on SIGCONT the old leader steps down (its lease
ran out, or a write of its was refused as stale: both stop its AMI
consumption), the events that waited in its socket are not applied on top
(the counters again), and the state still equals the truth. Every subscriber
saw contiguous versions or a RESYNC, never a silent gap, and its copy equals
the store's. `make test` runs the quick in-process versions
(tests/ingest/test_election.py, tests/api/test_replicas.py).
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
from ingest.store import Snapshot, StateStore
from simulator import AmiSimulator
from tests.reliability.conftest import AMI_SECRET
from tests.reliability.env import record
from tests.reliability.procs import ServiceProcess
from tests.reliability.subscribers import ChangesFollower, store_state
from tests.reliability.wsclient import TRANSPORT_WS, GqlSocket
from tests.support.busy_lab import lab, traffic
from tests.support.expected import state_view, truth_view, without_fields

LEASE = "1.5"
FAILOVER_GOAL = 5.0


@pytest.fixture
async def sim() -> AsyncIterator[AmiSimulator]:
    """The lab with traffic; model time moves only with `advance` (`traffic`)."""
    async with AmiSimulator(secret=AMI_SECRET, model=lab(), realtime=False) as simulator:
        yield simulator


def _candidate(
    sim: AmiSimulator, key_prefix: str, database_url: str, role: str = "ingest"
) -> ServiceProcess:
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
            # Off: only a takeover's own reconcile may correct the counters (see below).
            "AMI_RECONCILE_INTERVAL": "3600",
            "LOG_LEVEL": "INFO",
        },
        harness=False,
    )
    service.command += ["--role", role]
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


def _counters(truth: dict[str, Any]) -> int:
    """Completed + abandoned of every queue and calls taken of every member, in Asterisk."""
    view = truth_view(truth)
    queues = sum(q["completed"] + q["abandoned"] for q in view["queues"].values())
    taken = sum(m["calls_taken"] for ms in view["members"].values() for m in ms.values())
    return int(queues + taken)


async def _events_counted_once(
    client: httpx.AsyncClient, leader: ServiceProcess, store: StateStore, sim: AmiSimulator
) -> int:
    """More traffic after the leader's reconcile, with no reconcile since: the store's
    counters still equal Asterisk's, so no event was applied twice. How much they moved."""
    before = (await _health(client, leader))["ami"]
    counted = _counters(sim.truth())
    await traffic(sim, 60)
    await _until_truth(store, sim)
    after = (await _health(client, leader))["ami"]
    assert after["reconciliations"] == before["reconciliations"], "a reconcile would mask it"
    assert after["eventsApplied"] > before["eventsApplied"]
    moved = _counters(sim.truth()) - counted
    assert moved > 0, "the traffic ended calls: the check could have failed"
    return moved


async def _replica_equals_truth(
    client: httpx.AsyncClient, replica: ServiceProcess, sim: AmiSimulator
) -> None:
    """A REST snapshot of the replica (its live mirror) equals the simulator's truth."""
    expected = without_fields(truth_view(sim.truth()), "last_call")
    ours: Any = None
    try:
        async with asyncio.timeout(10):
            while ours != expected:
                data = (await client.get(f"{replica.url}/api/queue-status/snapshot")).json()
                queues = [  # the documented shape lists the callers; stored, they are keyed
                    {**q, "callers": {c["uniqueId"]: c for c in q.get("callers", [])}}
                    for q in data["data"]["queues"]
                ]
                snapshot = Snapshot(
                    int(data["data"]["version"]),
                    data["data"]["operators"],
                    queues,
                    data["data"]["channels"],
                )
                ours = without_fields(state_view(snapshot), "last_call")
                await asyncio.sleep(0.1)
    except TimeoutError:
        assert ours == expected, replica.url


async def _followers(replicas: list[ServiceProcess], each: int) -> list[ChangesFollower]:
    followers = []
    for n, replica in enumerate(replicas):
        for k in range(each):
            socket = await GqlSocket.open(replica.ws_url, TRANSPORT_WS)
            follower = ChangesFollower(socket, f"api{n + 1}#{k}")
            follower.start()
            followers.append(follower)
    return followers


@pytest.mark.slow  # about 45 s of real processes: `make test` has the in-process version
async def test_the_standby_leads_after_a_kill_and_a_paused_leader_steps_down(
    sim: AmiSimulator, key_prefix: str, lab_db: str, redis_client: Redis
) -> None:
    store = StateStore(redis_client, KeySchema(key_prefix))
    first = _candidate(sim, key_prefix, lab_db)
    second = _candidate(sim, key_prefix, lab_db)
    third = _candidate(sim, key_prefix, lab_db)
    replicas = [_candidate(sim, key_prefix, lab_db, "api") for _ in range(2)]
    followers: list[ChangesFollower] = []
    async with httpx.AsyncClient(timeout=3) as client:
        try:
            await first.start()
            leader = await _until_leadership(client, first, "leader", 10)
            for replica in replicas:
                await replica.start()
            followers = await _followers(replicas, 2)
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
            for replica in replicas:
                await _replica_equals_truth(client, replica, sim)
            moved_after_kill = await _events_counted_once(client, second, store, sim)

            await third.start()
            os.kill(second.pid, signal.SIGSTOP)
            paused_at = time.perf_counter()
            await _until_leadership(client, third, "leader", FAILOVER_GOAL + 2)
            second_failover = time.perf_counter() - paused_at
            async with asyncio.timeout(10):  # the takeover's reconcile
                while not (await _health(client, third))["ami"]["reconciliations"]:
                    await asyncio.sleep(0.05)
            await traffic(sim, 30)  # events wait in the paused leader's socket
            os.kill(second.pid, signal.SIGCONT)
            deposed = await _until_leadership(client, second, "standby", 5)
            metrics = (await client.get(f"{second.url}/metrics")).text
            assert 'queue_status_ingest_stepdowns_total{reason="' in metrics
            # The paused leader's waiting events, applied on top, would leave the counters
            # above Asterisk's: nothing but the takeover's reconcile ran.
            await _until_truth(store, sim)
            assert (await _health(client, third))["ami"]["reconciliations"] == 1
            moved_after_pause = await _events_counted_once(client, third, store, sim)
            third_health = await _health(client, third)
            assert third_health["leadership"] == "leader"
            assert third_health["epoch"] == took_over["epoch"] + 1
            for replica in replicas:
                await _replica_equals_truth(client, replica, sim)

            version, state = await store_state(store)
            for follower in followers:
                await follower.reaches(version, timeout=10)
                assert follower.violations == [], follower.violations
                assert follower.state == state, follower.name
        finally:
            for follower in followers:
                await follower.stop()
            if second.process is not None and second.process.poll() is None:
                os.kill(second.pid, signal.SIGCONT)
            for service in (first, second, third, *replicas):
                await service.close()
    record(
        "24",
        "ingest leader killed (-9), then paused past its lease (SIGSTOP/SIGCONT), "
        "2 api replicas with 2 subscribers each",
        "standby leads with the next epoch; state (and each replica's REST snapshot) equals "
        "Asterisk's after its reconcile; no event applied twice (counters equal Asterisk's "
        "with no reconcile since); the paused leader steps down; subscribers contiguous or "
        "RESYNC, never a silent gap",
        failover_s=round(failover, 2),
        paused_failover_s=round(second_failover, 2),
        lease_s=float(LEASE),
        stale_writes_refused=deposed["staleWritesRefused"],
        counters_moved_after_kill=moved_after_kill,
        counters_moved_after_pause=moved_after_pause,
        subscribers=len(followers),
        subscriber_messages=sum(f.messages for f in followers),
        subscriber_resyncs=sum(f.resyncs for f in followers),
        final_version=version,
    )
