"""Item 14: the soak — 500 subscribers, 200 changes/s, 10% churn a minute, 10 minutes.

The service runs as its own process (shared Redis under its own key prefix,
AMI off). 500 subscribers over both protocols each follow one operator
(`operatorUpdated(memberId:)`, 100 operators, five watchers each), four more
follow `changes`. A writer changes 200 operators' states a second. Every 1.2 s
one subscriber is cut abruptly (TCP abort, no close frame) and a new one joins.

Checked: every message continues where the last ended (no version gap, no
RESYNC needed), each subscriber's operator ends at the store's version,
write-to-receive p99 < 100 ms, the service's memory flat after warm-up, and
its tasks back to the baseline once everyone left. ``QS_SOAK_SECONDS`` shortens
the run (default 600).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from ingest.keys import KeySchema
from ingest.patches import Patch
from ingest.store import StateStore
from tests.reliability.conftest import REDIS_URL
from tests.reliability.env import record, timing_goal
from tests.reliability.procs import ServiceProcess
from tests.reliability.subscribers import ChangesFollower, store_state
from tests.reliability.test_pubsub_faults import Writer
from tests.reliability.test_slow_subscriber import slope_kib_per_min
from tests.reliability.wsclient import PROTOCOLS, GqlSocket

SUBSCRIBERS = 500
OPERATORS = 100
RATE = 200
SECONDS = float(os.environ.get("QS_SOAK_SECONDS", "600"))
WARM_UP = min(120.0, SECONDS / 4)
WATCH = """
subscription($id: String) {
  operatorUpdated(memberId: $id) { kind fromVersion toVersion operators { memberId version } }
}
"""


@dataclass
class Watcher:
    """One subscriber of one operator, checking its history as it goes."""

    socket: GqlSocket
    member: str
    written_at: dict[int, float]
    at: int | None = None
    version: int = 0
    messages: int = 0
    resyncs: int = 0
    violations: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        await self.socket.subscribe("1", WATCH, {"id": self.member})
        with contextlib.suppress(ConnectionClosed, asyncio.CancelledError):
            while True:
                message = await self.socket.recv(timeout=3600)
                if message.get("type") != self.socket.data_type:
                    self.violations.append(f"{self.member}: {message}")
                    return
                self.take(message["payload"]["data"]["operatorUpdated"])

    def take(self, update: dict[str, Any]) -> None:
        received = time.perf_counter()
        self.messages += 1
        kind, start, end = update["kind"], int(update["fromVersion"]), int(update["toVersion"])
        if kind == "INITIAL":
            self.at = end
        elif self.at is None:
            self.violations.append(f"{self.member}: {kind} before INITIAL")
        elif start != self.at:
            self.violations.append(f"{self.member}: {kind} from {start}, last ended {self.at}")
        if kind == "RESYNC":
            self.resyncs += 1
        self.at = end
        for operator in update["operators"]:
            version = int(operator["version"])
            if version < self.version:
                self.violations.append(f"{self.member}: version went back {version}")
            self.version = version
            written = self.written_at.get(version)
            if kind == "CHANGES" and written is not None:
                self.latencies.append(received - written)

    def abort(self) -> None:
        """Gone without a word: the TCP connection is dropped."""
        transport = getattr(self.socket.ws, "transport", None)
        if transport is not None:
            transport.abort()
        if self.task is not None:
            self.task.cancel()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.socket.close(), timeout=5)


@pytest.mark.slow
@pytest.mark.timeout(int(SECONDS) + 600)
async def test_soak(empty_db: str) -> None:
    prefix = f"qs-rel-soak-{uuid.uuid4().hex[:8]}:"
    redis = Redis.from_url(REDIS_URL)
    store = StateStore(redis, KeySchema(prefix))
    service = ServiceProcess(
        {
            "REDIS_URL": REDIS_URL,
            "REDIS_KEY_PREFIX": prefix,
            "DATABASE_URL": empty_db,
            "AMI_ENABLED": "false",
            "GRAPHQL_WS_MAX_CONNECTIONS": "2000",
            "GRAPHQL_WS_MAX_CONNECTIONS_PER_CLIENT": "2000",
            "LOG_LEVEL": "WARNING",
        }
    )
    writer = Writer(store, rate=RATE, operators=OPERATORS)
    rng = random.Random(14)
    watchers: list[Watcher] = []
    retired: list[Watcher] = []
    followers: list[ChangesFollower] = []
    memory: list[tuple[float, int]] = []
    try:
        await service.start()
        async with httpx.AsyncClient(timeout=30) as http:
            baseline = await service.stats(http, collect=True)
            await store.apply(  # every operator exists
                [
                    Patch("operator", f"PJSIP/{2000 + n}", {"status": "idle"})
                    for n in range(OPERATORS)
                ]
            )

            async def join(n: int) -> Watcher:
                sock = await GqlSocket.open(service.ws_url, PROTOCOLS[n % 2])
                watcher = Watcher(sock, f"PJSIP/{2000 + n % OPERATORS}", writer.written_at)
                watcher.start()
                return watcher

            for n in range(SUBSCRIBERS):
                watchers.append(await join(n))
            for n in range(4):
                sock = await GqlSocket.open(service.ws_url, PROTOCOLS[n % 2])
                follower = ChangesFollower(sock, f"changes#{n}")
                follower.start()
                followers.append(follower)
            writer.start()
            started = time.perf_counter()
            joined = SUBSCRIBERS
            next_churn = next_sample = started
            churned = 0
            while (now := time.perf_counter()) - started < SECONDS:
                if now >= next_churn:
                    victim = watchers.pop(rng.randrange(len(watchers)))
                    victim.abort()
                    retired.append(victim)
                    watchers.append(await join(joined))
                    joined += 1
                    churned += 1
                    next_churn += 60 / (SUBSCRIBERS * 0.10)
                if now >= next_sample:
                    # A full collection pauses the server's loop: once every 30 s only.
                    stats = await service.stats(http, collect=True)
                    memory.append((now - started, int(stats["rssKib"])))
                    next_sample += 30
                    for watcher in watchers:
                        assert not watcher.violations, watcher.violations
                await asyncio.sleep(0.05)
            await writer.stop()
            _, state = await store_state(store)
            version, _ = await store_state(store)
            async with asyncio.timeout(60):
                for follower in followers:
                    await follower.reaches(version, 60)
                for watcher in watchers:
                    want = state[("OPERATOR", watcher.member)]
                    while watcher.version != want:
                        await asyncio.sleep(0.05)
            for follower in followers:
                assert not follower.violations, follower.violations
                assert follower.state == state
            for watcher in watchers:
                assert not watcher.violations, watcher.violations
            during = await service.stats(http)
            await asyncio.gather(*(w.stop() for w in watchers + retired))
            await asyncio.gather(*(f.stop() for f in followers))
            final: dict[str, Any] = {}
            async with asyncio.timeout(60):
                while True:
                    final = await service.stats(http, collect=True)
                    if final["wsOpen"] == 0 and final["tasks"] <= baseline["tasks"]:
                        break
                    await asyncio.sleep(0.5)
    finally:
        await writer.stop()
        await asyncio.gather(*(w.stop() for w in watchers + retired), return_exceptions=True)
        await asyncio.gather(*(f.stop() for f in followers), return_exceptions=True)
        await service.close()
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()

    latencies = sorted(lat for w in watchers + retired for lat in w.latencies)
    latencies += [lat for f in followers for lat in f.latencies]
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    steady = [(t, kib) for t, kib in memory if t >= WARM_UP]
    slope = slope_kib_per_min(steady)
    resyncs = sum(w.resyncs for w in watchers + retired) + sum(f.resyncs for f in followers)
    assert resyncs == 0, f"{resyncs} RESYNCs: the stream had gaps"
    p50, p90 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.9)]
    print(f"soak: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, memory {memory}")
    assert slope < 1024, f"memory grew {slope:.0f} KiB/min after warm-up: {memory}"
    timing_goal(
        p99 < 0.1,
        f"p99 {p99 * 1000:.1f} ms < 100 ms (p50 {p50 * 1000:.1f}, p90 {p90 * 1000:.1f})",
    )
    record(
        "14",
        f"soak {SECONDS / 60:g} min: {SUBSCRIBERS} subscribers (+4 on every change), "
        f"{RATE} changes/s, 10% churn/min with TCP aborts",
        "no version gap, every copy = store, p99 < 100 ms, memory flat, tasks back to baseline",
        subscribers=SUBSCRIBERS + 4,
        joinedTotal=joined + 4,
        churned=churned,
        changes=writer.changes,
        messages=sum(w.messages for w in watchers + retired) + sum(f.messages for f in followers),
        gaps=0,
        p50Ms=round(latencies[len(latencies) // 2] * 1000, 1),
        p99Ms=round(p99 * 1000, 1),
        rssKib=memory[-1][1],
        memorySlopeKibPerMin=round(slope, 1),
        wsOpenDuring=during["wsOpen"],
        tasksBaseline=baseline["tasks"],
        tasksAfter=final["tasks"],
    )
