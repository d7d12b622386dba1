"""Item 3: Redis frozen for 3 s (SIGSTOP) while AMI sends 1,000 events/s.

The service runs as its own process on a redis-server of this test. While the
simulator sends 1,000 events/s, probes go through the whole path — a pause
with a fresh reason, stated by Asterisk, until it is readable in Redis — and
the ingest's buffer is sampled. Redis is frozen for 3 s, then continued.

Checked: no event dropped; no reconciliation after the freeze had anything to
correct (a lost event, or a batch applied twice because its write timed out
and was sent again, would be corrected there); 0 drift at the end; the buffer
stayed bounded; and the probe latency came back to its level before the freeze.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import httpx
import pytest

from ingest.keys import KeySchema
from ingest.patches import Patch
from ingest.pipeline import EventPipeline
from ingest.store import StateStore
from simulator import AmiSimulator
from tests.reliability.conftest import lab_database, simulator
from tests.reliability.drift import describe, drift_details
from tests.reliability.env import record, timing_goal
from tests.reliability.procs import RedisServer, ServiceProcess
from tests.reliability.test_redis_restart import lab_interfaces, service_env, wait_rebuilt

PROBE_MEMBER = "Local/1003@agents/n"  # Carol, who never answers: pausing her changes little
PROBE_QUEUE = "sales"


class Probes:
    """Pauses stated by Asterisk, timed until Redis shows them."""

    def __init__(self, sim: AmiSimulator, store: StateStore) -> None:
        self.sim = sim
        self.store = store
        self.samples: list[tuple[float, float]] = []  # (sent at, latency)
        self._n = 0

    async def run(self) -> None:
        while True:
            await self.once()
            await asyncio.sleep(0.1)

    async def once(self) -> None:
        self._n += 1
        reason = f"probe-{self._n}"
        model = self.sim.model
        model.queue_pause(PROBE_MEMBER, False, queue=PROBE_QUEUE)
        sent = time.perf_counter()
        model.queue_pause(PROBE_MEMBER, True, queue=PROBE_QUEUE, reason=reason)
        while True:
            try:
                operator = await self.store.get("operator", PROBE_MEMBER)
            except Exception:  # Redis frozen: the read times out; try again
                await asyncio.sleep(0.01)
                continue
            membership = ((operator or {}).get("queues") or {}).get(PROBE_QUEUE) or {}
            if membership.get("pausedReason") == reason:
                break
            await asyncio.sleep(0.002)
        self.samples.append((sent, time.perf_counter() - sent))


async def sample_depth(service: ServiceProcess, client: httpx.AsyncClient, out: list[int]) -> None:
    while True:
        stats = await service.stats(client)
        out.append(int(stats["ingest"]["ingestQueueDepth"]))
        await asyncio.sleep(0.05)


async def quiesce(service: ServiceProcess, client: httpx.AsyncClient, store: StateStore) -> None:
    """Wait until the ingest applied everything and nothing changes any more."""
    stable, last = 0, -1
    async with asyncio.timeout(60):
        while stable < 4:
            await asyncio.sleep(0.15)
            ingest = (await service.stats(client))["ingest"]
            version = await store.version()
            quiet = ingest["ingestQueueDepth"] == 0 and not ingest["stateStale"]
            stable = stable + 1 if quiet and version == last else 0
            last = version


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("seconds", [3.0, 7.0], ids=["3s", "7s-past-the-socket-timeout"])
async def test_redis_frozen_at_1000_events_per_second(
    own_redis: RedisServer, pg_url: str, seconds: float
) -> None:
    lab_db = await lab_database(pg_url)
    async with simulator(rate=1000) as sim:
        service = ServiceProcess(service_env(own_redis.url, lab_db, sim.port))
        redis = own_redis.client(socket_timeout=0.5)
        store = StateStore(redis, KeySchema(""))
        probes = Probes(sim, store)
        depths: list[int] = []
        try:
            await service.start()
            async with httpx.AsyncClient(base_url=service.url, timeout=15) as client:
                await wait_rebuilt(client, lab_interfaces(sim), 30)
                before = (await service.stats(client))["ingest"]
                prober = asyncio.create_task(probes.run())
                sampler = asyncio.create_task(sample_depth(service, client, depths))
                await asyncio.sleep(4)
                frozen_at = time.perf_counter()
                own_redis.freeze()
                await asyncio.sleep(seconds)
                own_redis.thaw()
                thawed_at = time.perf_counter()
                await asyncio.sleep(8)
                prober.cancel()
                sampler.cancel()
                sim.pause_events()
                await quiesce(service, client, store)
                after = (await service.stats(client))["ingest"]
                found, details = await drift_details(sim, store)
        finally:
            await service.stop()
            output = service.output()
            await service.close()
            await redis.aclose()

    assert "Traceback" not in output, output[-3000:]
    received = after["eventsReceived"] - before["eventsReceived"]
    assert after["eventsDropped"] == 0
    later = after["reconciliations"] - before["reconciliations"]
    corrected = after["driftCorrections"] - before["driftCorrections"]
    assert corrected == 0, f"reconciliations after the freeze corrected {corrected} entities"
    found.pop("sl_rounding")
    assert found == {"operator": 0, "queue": 0, "channel": 0}, describe(details)

    baseline = [lat for sent, lat in probes.samples if sent < frozen_at]
    recovered = [lat for sent, lat in probes.samples if sent > thawed_at + 3]
    assert baseline and recovered
    base_p50 = statistics.median(baseline)
    after_p50 = statistics.median(recovered)
    recovery = next(
        (sent - thawed_at for sent, lat in probes.samples if sent > thawed_at and lat < 0.25),
        float("inf"),
    )
    worst_depth = max(depths)
    assert worst_depth < 50_000, f"ingest buffer grew to {worst_depth}"
    timing_goal(
        after_p50 < max(3 * base_p50, 0.1),
        f"probe latency recovered: p50 {after_p50 * 1000:.0f} ms after, {base_p50 * 1000:.0f} before",
    )
    figures: dict[str, Any] = {
        "events": received,
        "eventsDropped": after["eventsDropped"],
        "redisErrors": after["redisErrors"] - before["redisErrors"],
        "reconcilesAfter": later,
        "correctedAfter": corrected,
        "drift": 0,
        "maxBuffer": worst_depth,
        "probeP50BeforeMs": round(base_p50 * 1000, 1),
        "probeP50AfterMs": round(after_p50 * 1000, 1),
        "latencyBackAfterS": round(recovery, 2),
    }
    record(
        "3" if seconds == 3.0 else "3b",
        f"Redis SIGSTOP {seconds:g} s at 1,000 AMI events/s"
        + ("" if seconds == 3.0 else " (writes time out and are sent again)"),
        "no event lost or applied twice, buffer bounded, latency back to its level",
        **figures,
    )


async def test_a_batch_sent_again_is_applied_once(store: StateStore) -> None:
    """Found by the 7 s freeze: a write that timed out still ran when Redis resumed, and the
    copy sent again ran too — every counter in the batch counted twice."""
    abandon = Patch("queue", "sales", {"strategy": "rrmemory"}, incr=((("abandoned",), 1),))
    assert await store.apply([abandon], writer=("w1", 0), return_changes=True)
    assert await store.apply([abandon], writer=("w1", 0), return_changes=True) == []
    assert await store.apply([abandon], writer=("w1", 1), return_changes=True)
    # An older copy arriving late changes nothing either; another writer is not affected.
    assert await store.apply([abandon], writer=("w1", 0), return_changes=True) == []
    assert await store.apply([abandon], writer=("w2", 0), return_changes=True)
    queue = await store.get("queue", "sales")
    assert queue is not None and queue["abandoned"] == 3

    # The AMI consumer's batches carry their number: the pipeline passes it on.
    pipeline = EventPipeline(store)
    batch = [{"Event": "QueueCallerAbandon", **_caller_fields()}]
    await pipeline.apply(batch, writer=("w3", 0))
    await pipeline.apply(batch, writer=("w3", 0))
    queue = await store.get("queue", "sales")
    assert queue is not None and queue["abandoned"] == 4


def _caller_fields() -> dict[str, str]:
    return {
        "Channel": "Local/sales@callers-00000001;2",
        "ChannelState": "6",
        "ChannelStateDesc": "Up",
        "CallerIDNum": "5550001",
        "CallerIDName": "Customer One",
        "ConnectedLineNum": "<unknown>",
        "ConnectedLineName": "<unknown>",
        "Language": "en",
        "AccountCode": "",
        "Context": "callers",
        "Exten": "sales",
        "Priority": "2",
        "Uniqueid": "1795696400.1",
        "Linkedid": "1795696400.0",
        "Queue": "sales",
        "Position": "1",
        "OriginalPosition": "1",
        "HoldTime": "5",
    }
