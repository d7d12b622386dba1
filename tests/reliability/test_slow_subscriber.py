"""Item 5: a subscriber that never reads, among twenty that do.

The service runs as its own process (shared Redis under its own key prefix).
Twenty `changes` subscribers read normally over both protocols; one more
subscribes with a 4 KiB receive buffer and never reads again. While a writer
changes operators (with fat names, so the stalled socket fills fast), the
healthy subscribers' write-to-receive latency, the service's memory and its
subscriber count are sampled.

Checked: only the stalled one is cut off (the others see every version, no
RESYNC); their p99 stays under 100 ms; memory stays flat while the stalled
socket sits there; the stalled connection is eventually closed by the server
and its tasks go away.
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import time
import uuid
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from ingest.keys import KeySchema
from ingest.store import StateStore
from tests.reliability.conftest import REDIS_URL
from tests.reliability.env import record, timing_goal
from tests.reliability.procs import ServiceProcess
from tests.reliability.subscribers import ChangesFollower, store_state
from tests.reliability.test_pubsub_faults import Writer
from tests.reliability.wsclient import PROTOCOLS, TRANSPORT_WS, GqlSocket

FAT = "subscription { changes { toVersion changes { operator { memberId memberName } } } }"


def slope_kib_per_min(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of (seconds, KiB) samples, in KiB per minute."""
    if len(samples) < 2:
        return 0.0
    xs = [t for t, _ in samples]
    ys = [float(v) for _, v in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    if den == 0:
        return 0.0
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_a_subscriber_that_never_reads_is_dropped_alone(empty_db: str) -> None:
    prefix = f"qs-rel-{uuid.uuid4().hex[:10]}:"
    redis = Redis.from_url(REDIS_URL)
    store = StateStore(redis, KeySchema(prefix))
    service = ServiceProcess(
        {
            "REDIS_URL": REDIS_URL,
            "REDIS_KEY_PREFIX": prefix,
            "DATABASE_URL": empty_db,
            "AMI_ENABLED": "false",
            "GRAPHQL_SUBSCRIBER_BUFFER": "100",
            "GRAPHQL_WS_MAX_CONNECTIONS_PER_CLIENT": "100",
            "CLIENT_WRITE_TIMEOUT": "10",
            "LOG_LEVEL": "INFO",
        }
    )
    writer = Writer(store, rate=200)
    followers: list[ChangesFollower] = []
    try:
        await service.start()
        await writer.burst(50)
        async with httpx.AsyncClient(timeout=15) as http:
            baseline = await service.stats(http, collect=True)
            for n in range(20):
                protocol = PROTOCOLS[n % 2]
                sock = await GqlSocket.open(service.ws_url, protocol)
                follower = ChangesFollower(sock, f"{protocol}#{n}")
                follower.written_at = writer.written_at
                follower.start()
                followers.append(follower)
            version, _ = await store_state(store)
            for follower in followers:
                await follower.reaches(version, 30)
            assert (await service.stats(http))["subscribers"] == 20

            writer.pad = "x" * 4096
            writer.start()
            await asyncio.sleep(5)  # warm-up: the live mirror and the sockets at their size
            warm = await service.stats(http, collect=True)

            # The stalled one: a tiny receive buffer, one frame of read-ahead, then no reads.
            raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            raw.connect(("127.0.0.1", service.port))
            raw.setblocking(False)
            stalled = await connect(
                service.ws_url,
                sock=raw,
                subprotocols=[Subprotocol(TRANSPORT_WS)],
                max_queue=1,
                ping_interval=None,
                close_timeout=1,
            )
            await stalled.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await stalled.recv())["type"] == "connection_ack"
            await stalled.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": FAT}})
            )

            cut_at: float | None = None
            started = time.perf_counter()
            memory: list[tuple[float, int]] = []
            async with asyncio.timeout(120):
                while cut_at is None:
                    stats = await service.stats(http)
                    if stats["overflows"] >= 1:
                        cut_at = time.perf_counter() - started
                    await asyncio.sleep(0.1)
            # The stalled socket stays open a while: memory must stay flat meanwhile.
            for _ in range(40):
                stats = await service.stats(http, collect=True)
                memory.append((time.perf_counter() - started, int(stats["rssKib"])))
                await asyncio.sleep(0.5)
            after_cut = await service.stats(http)
            assert after_cut["overflows"] == 1, "another subscriber was cut off too"
            assert after_cut["subscribers"] == 20

            closed_after: float | None = None
            async with asyncio.timeout(120):
                while closed_after is None:
                    stats = await service.stats(http)
                    if stats["wsOpen"] == 20:
                        closed_after = time.perf_counter() - started
                    await asyncio.sleep(0.5)
            await writer.stop()
            version, state = await store_state(store)
            for follower in followers:
                await follower.reaches(version, 30)
                assert not follower.violations, follower.violations
                assert follower.resyncs == 0
                assert follower.state == state
            for follower in followers:
                await follower.stop()
            await stalled.close()
            final: dict[str, Any] = {}
            async with asyncio.timeout(30):
                while True:
                    final = await service.stats(http, collect=True)
                    if final["wsOpen"] == 0 and final["tasks"] <= baseline["tasks"]:
                        break
                    await asyncio.sleep(0.2)
        latencies = sorted(lat for f in followers for lat in f.latencies)
        p99 = latencies[int(len(latencies) * 0.99)]
        slope = slope_kib_per_min(memory)
        grown = max(kib for _, kib in memory) - int(warm["rssKib"])
        timing_goal(p99 < 0.1, f"healthy subscribers' p99 {p99 * 1000:.1f} ms < 100 ms")
        assert grown < 16 * 1024, f"memory grew {grown} KiB while the socket stalled"
        record(
            "5",
            "one subscriber never reads (4 KiB receive buffer), 20 healthy ones, 200 changes/s",
            "only it is cut off, the others get every version, memory flat, socket closed",
            subscribers=21,
            changes=writer.changes,
            messages=sum(f.messages for f in followers),
            cutOffAfterS=round(cut_at, 1),
            closedAfterS=round(closed_after, 1),
            p99Ms=round(p99 * 1000, 1),
            rssKib=memory[-1][1],
            rssGrowthKib=grown,
            memorySlopeKibPerMin=round(slope, 1),
            tasksBaseline=baseline["tasks"],
            tasksAfter=final["tasks"],
        )
    finally:
        await writer.stop()
        for follower in followers:
            await follower.stop()
        await service.close()
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
