"""Item 23: a Redis Sentinel failover while the simulator's changes flow.

The test runs its own master, replica and three sentinels (`tests.reliability.
sentinels`); the app reaches Redis only through the sentinels (REDIS_URL's host
is unresolvable on purpose: only its database is used). `SENTINEL FAILOVER`
promotes the replica while AMI events are applied. Then: /healthz is healthy
again within 10 s, writes land on the new master (its version moves), each
`changes` subscriber saw contiguous versions or a RESYNC (never a silent gap,
`tests.reliability.subscribers`) and its copy equals the store, and, the
simulator paused, the drift from Asterisk's truth is 0 — the periodic
reconciliation is off, so only the failover's own reconcile can have healed
what the new master missed (replication is asynchronous).
"""

from __future__ import annotations

import asyncio
import functools
import time

import httpx
import pytest

from ingest.keys import KeySchema
from ingest.patches import Patch
from ingest.redis_sentinel import MasterWatch, parse_sentinels, sentinel_master
from ingest.runners.ami_runner import AmiIngest
from ingest.store import StateStore
from tests.reliability.conftest import AppFactory, simulator
from tests.reliability.env import record, timing_goal
from tests.reliability.sentinels import MASTER_NAME, sentinel_lab
from tests.reliability.subscribers import ChangesFollower, store_state
from tests.reliability.test_ami_link_faults import quiet_drift, until
from tests.reliability.wsclient import PROTOCOLS, GqlSocket


async def healthy_after(http: httpx.AsyncClient, since: float, timeout: float) -> float:
    """Seconds from `since` until /healthz answers 200 with Redis ok."""
    async with asyncio.timeout(timeout):
        while True:
            response = await http.get("/healthz")
            if response.status_code == 200 and response.json()["data"]["redis"]["ok"]:
                return time.perf_counter() - since
            await asyncio.sleep(0.05)


async def writes_resume(store: StateStore, timeout: float) -> None:
    """The store's version moves on (the ingest writes to the new master)."""
    at = await store.version()
    try:
        async with asyncio.timeout(timeout):
            while await store.version() == at:
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"no write within {timeout:g} s of the failover") from None


async def failover_under_traffic(
    app_factory: AppFactory, lab_db: str, *, rate: float
) -> dict[str, float | int]:
    async with (
        sentinel_lab() as lab,
        simulator(rate=rate) as sim,
        app_factory(
            database_url=lab_db,
            redis_url="redis://sentinel-master.invalid/0",
            redis_sentinels=lab.sentinels,
            redis_sentinel_master=MASTER_NAME,
            ami_enabled=True,
            ami_port=sim.port,
            ami_reconcile_interval=3600,
        ) as running,
    ):
        ingest = running.runtime.ingest
        assert ingest is not None
        await until(lambda: ingest.status.reconciliations >= 1, 20, "the first snapshot")
        followers = []
        for n, protocol in enumerate(PROTOCOLS):
            socket = await GqlSocket.open(running.ws_url, protocol)
            follower = ChangesFollower(socket, f"{protocol}#{n}")
            follower.start()
            followers.append(follower)
        try:
            await asyncio.sleep(1.0)  # changes flowing to every subscriber
            before = await running.store.version()
            reconciled = ingest.status.reconciliations
            started = time.perf_counter()
            old_port = await lab.master_port()
            new_port = await lab.failover()
            assert new_port != old_port
            back = await healthy_after(running.http, started, 30)
            await until(lambda: ingest.status.reconciliations > reconciled, 20, "a reconcile")
            await writes_resume(running.store, 10)
            rounding = await quiet_drift(sim, running, ingest)
            version, state = await store_state(running.store)
            for follower in followers:
                await follower.reaches(version, 20)
                assert not follower.violations, follower.violations
                assert follower.state == state, follower.name
            resyncs = min(f.resyncs for f in followers)
            assert resyncs >= 1, "no subscriber was told to re-send its state"
        finally:
            for follower in followers:
                await follower.stop()
        return {
            "eventsPerS": int(rate),
            "versionBefore": before,
            "healthyAgainS": round(back, 2),
            "resyncs": resyncs,
            "drift": 0,
            "slRounding": rounding,
        }


@pytest.mark.timeout(120)
async def test_sentinel_failover_quick(app_factory: AppFactory, lab_db: str) -> None:
    """The quick version `make test` runs: a failover at 100 events/s."""
    figures = await failover_under_traffic(app_factory, lab_db, rate=100)
    timing_goal(figures["healthyAgainS"] < 10, f"healthy within 10 s ({figures})")


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_sentinel_failover_under_500_changes_per_second(
    app_factory: AppFactory, lab_db: str
) -> None:
    figures = await failover_under_traffic(app_factory, lab_db, rate=500)
    timing_goal(figures["healthyAgainS"] < 10, f"healthy within 10 s ({figures})")
    record(
        "23",
        "SENTINEL FAILOVER (master + replica + 3 sentinels) while AMI sends 500 events/s",
        "healthy again within 10 s, writes resume on the new master, subscribers RESYNC "
        "(contiguous otherwise, copy = store), 0 drift after the failover's reconcile",
        **figures,
    )


async def test_the_client_follows_a_failover_before_the_old_master_is_demoted() -> None:
    """`MasterWatch` repoints the pool at once: redis-py alone keeps its open connections on
    the old master, which takes writes (and later drops them) until Sentinel demotes it.
    On the new master the store's scripts run again, in a pipeline too: its script cache
    may be empty (redis-py loads a missing script, SCRIPT EXISTS then LOAD, before EXEC)."""
    reasons: list[str] = []

    async def rebuild(reason: str) -> None:
        reasons.append(reason)

    async with sentinel_lab() as lab:
        client = sentinel_master(
            parse_sentinels(lab.sentinels), MASTER_NAME, redis_url="redis://unused.invalid/0"
        )
        store = StateStore(client, KeySchema("sentinel-test:"))
        try:
            watch = MasterWatch(client, rebuild)
            assert await watch.check() is None  # the first look only notes the master
            await store.apply([Patch("operator", "PJSIP/1", {"status": "idle"})])
            old_port = int((await client.info("server"))["tcp_port"])
            new_port = await lab.failover()
            async with asyncio.timeout(10):  # each sentinel learns of it in its own time
                while await watch.check() is None:
                    await asyncio.sleep(0.05)
            assert reasons == ["Redis Sentinel failover"]
            assert int((await client.info("server"))["tcp_port"]) == new_port != old_port
            await client.script_flush()  # a master that never ran our scripts
            await store.apply([Patch("operator", "PJSIP/1", {"status": "in_call"})])
            assert (await store.get("operator", "PJSIP/1") or {})["status"] == "in_call"
            counter = client.register_script("return redis.call('INCR', KEYS[1])")
            await client.script_flush()
            async with client.pipeline(transaction=True) as pipe:
                await counter(keys=["sentinel-test:counter"], client=pipe)
                await counter(keys=["sentinel-test:counter"], client=pipe)
                assert await pipe.execute() == [1, 2]
            assert await watch.check() is None  # nothing moved since
        finally:
            await client.aclose()


@pytest.mark.timeout(120)
async def test_one_failover_is_followed_once_per_process_and_rebuilds_every_pbx(
    app_factory: AppFactory, lab_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With two PBXes behind Sentinel the process has one `MasterWatch`: a failover is
    seen, and the shared pool repointed and dropped, once (not once per PBX, each
    dropping the connections the previous one had just made); then both PBXes' states
    are rebuilt (a reconcile each), and each PBX counts the failover in its section."""
    async with (
        sentinel_lab() as lab,
        simulator(rate=None, seed=1) as east,
        simulator(rate=None, seed=2) as west,
        app_factory(
            database_url=lab_db,
            redis_url="redis://sentinel-master.invalid/0",
            redis_sentinels=lab.sentinels,
            redis_sentinel_master=MASTER_NAME,
            ami_enabled=True,
            pbxes=f"east=127.0.0.1:{east.port},west=127.0.0.1:{west.port}",
            ami_reconcile_interval=3600,
        ) as running,
    ):
        ingests: dict[str, AmiIngest] = {}
        for name in ("east", "west"):
            ingest = running.runtime.pbx(name).ingest
            assert ingest is not None
            await until(functools.partial(_reconciled_past, ingest, 0), 20, f"{name}'s snapshot")
            ingests[name] = ingest
        reconciled = {name: i.status.reconciliations for name, i in ingests.items()}
        await asyncio.sleep(1.0)  # the watch has noted the first master
        caplog.clear()
        await lab.failover()
        for name, ingest in ingests.items():
            at = reconciled[name]
            await until(functools.partial(_reconciled_past, ingest, at), 20, f"{name}'s reconcile")
        await healthy_after(running.http, time.perf_counter(), 30)
        await asyncio.sleep(1.5)  # three more looks: a late second detection would show
        moved = [r for r in caplog.records if "Sentinel moved the master" in r.getMessage()]
        assert len(moved) == 1, [r.getMessage() for r in moved]
        watch = running.runtime.master_watch
        assert watch is not None and watch.failovers == 1
        sections = (await running.http.get("/healthz")).json()["data"]["pbxes"]
        for name in ("east", "west"):
            redis = sections[name]["redis"]
            assert redis["failovers"] == 1, (name, redis)
            assert redis["stateLosses"] >= 1 and redis["lastStateLoss"], (name, redis)
        exposed = (await running.http.get("/metrics")).text
        for name in ("east", "west"):
            assert f'queue_status_redis_failovers_total{{pbx="{name}"}} 1.0' in exposed


def _reconciled_past(ingest: AmiIngest, count: int) -> bool:
    return ingest.status.reconciliations > count
