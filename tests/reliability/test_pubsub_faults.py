"""Item 4: the service's own pub/sub link reset or blackholed while changes flow.

The app reaches Redis through a `ChaosProxy`; a writer of the test (another
"process", straight to Redis) keeps changing operators. `changes` subscribers
over both protocols check every message against their history (see
`tests.reliability.subscribers`): contiguous versions or a RESYNC, never a
silent gap; at the end each one's copy equals the store.

The hardest case is a blackhole after which nothing more is written: no later
batch reveals the gap, so only the broadcaster's own check can.
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from ingest.patches import Patch
from ingest.store import StateStore
from tests.reliability.chaos import ChaosProxy
from tests.reliability.conftest import REDIS_URL, AppFactory
from tests.reliability.env import FULL, record, timing_goal
from tests.reliability.subscribers import ChangesFollower, store_state
from tests.reliability.wsclient import PROTOCOLS, GqlSocket


class Writer:
    """Changes operators at about `rate` changes per second, remembering when each version
    was written."""

    def __init__(self, store: StateStore, rate: float, operators: int = 50) -> None:
        self.store = store
        self.rate = rate
        self.operators = operators
        self.written_at: dict[int, float] = {}
        self.changes = 0
        self.pad = ""  # a long memberName makes every message of a subscriber that asks for it big
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._rng = random.Random(4)

    async def burst(self, n: int) -> None:
        """Write `n` changes now, in batches of one to three."""
        while n > 0:
            size = min(n, self._rng.randint(1, 3))
            patches = [
                Patch(
                    "operator",
                    f"PJSIP/{2000 + self._rng.randrange(self.operators)}",
                    {
                        "status": self._rng.choice(["idle", "in_call", "ringing"]),
                        "memberName": f"{self.pad}{self.changes + k}",
                    },
                )
                for k in range(size)
            ]
            applied = await self.store.apply(patches, return_changes=True)
            stamp = time.perf_counter()
            for change in applied:
                self.written_at[change.version] = stamp
            self.changes += len(applied)
            n -= size

    async def _run(self) -> None:
        while not self._stopping:
            await self.burst(max(1, int(self.rate / 50)))
            await asyncio.sleep(1 / 50)

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop after the write in flight. Not by cancelling it: a cancellation that lands
        as redis-py's own timeout fires can be lost (Python 3.11), leaving the writer on."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        try:
            async with asyncio.timeout(15):
                await task
        except TimeoutError:
            task.print_stack()
            task.cancel()
            raise AssertionError("the test's writer did not stop within 15 s") from None


async def run_faults(
    app_factory: AppFactory,
    store: StateStore,
    database_url: str,
    *,
    subscribers: int,
    rate: float,
    faults: list[str],
) -> dict[str, float | int]:
    host, _, port = REDIS_URL.removeprefix("redis://").split("/")[0].partition(":")
    proxy = ChaosProxy(host, int(port or 6379))
    await proxy.start()
    writer = Writer(store, rate)
    followers: list[ChangesFollower] = []
    try:
        async with app_factory(
            redis_url=f"redis://127.0.0.1:{proxy.port}/0", database_url=database_url
        ) as running:
            await writer.burst(60)
            for n in range(subscribers):
                protocol = PROTOCOLS[n % 2]
                sock = await GqlSocket.open(running.ws_url, protocol)
                follower = ChangesFollower(sock, f"{protocol}#{n}")
                follower.written_at = writer.written_at
                follower.start()
                followers.append(follower)
            version, _ = await store_state(store)
            for follower in followers:
                await follower.reaches(version, 20)
            writer.start()
            silent_waits: list[float] = []
            for kind in faults:
                await asyncio.sleep(random.uniform(0.3, 0.8))
                if kind == "reset":
                    proxy.reset()
                elif kind == "blackhole":
                    proxy.blackhole()
                    await asyncio.sleep(2.5)
                    proxy.restore()
                else:  # "silent": a blackhole, changes written, then nothing more
                    await writer.stop()
                    proxy.blackhole()
                    await writer.burst(20)
                    await asyncio.sleep(2.5)
                    proxy.restore()
                    version, _ = await store_state(store)
                    started = time.perf_counter()
                    for follower in followers:
                        await follower.reaches(version, 30)
                    silent_waits.append(time.perf_counter() - started)
                    writer.start()
                for follower in followers:
                    assert not follower.violations, follower.violations
            await asyncio.sleep(1)
            await writer.stop()
            version, state = await store_state(store)
            for follower in followers:
                await follower.reaches(version, 30)
            for follower in followers:
                assert not follower.violations, follower.violations
                assert follower.state == state, f"{follower.name} differs from the store"
                assert follower.resyncs >= 1, f"{follower.name} never resynced"
            broadcaster = running.runtime.broadcaster
            latencies = sorted(lat for f in followers for lat in f.latencies)
            figures: dict[str, float | int] = {
                "subscribers": subscribers,
                "changes": writer.changes,
                "faults": len(faults),
                "messages": sum(f.messages for f in followers),
                "resyncs": sum(f.resyncs for f in followers),
                "violations": 0,
                "reloads": broadcaster.loads,
                "silentGapHealedS": round(max(silent_waits, default=0.0), 2),
                "p99Ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1) if latencies else 0,
            }
    finally:
        await writer.stop()
        for follower in followers:
            await follower.stop()
        await proxy.stop()
    return figures


async def test_pubsub_reset_and_blackhole_quick(
    app_factory: AppFactory, store: StateStore, empty_db: str
) -> None:
    figures = await run_faults(
        app_factory,
        store,
        empty_db,
        subscribers=4,
        rate=100,
        faults=["reset", "blackhole", "silent"],
    )
    timing_goal(
        float(figures["silentGapHealedS"]) < 10,
        f"a silent gap is noticed within 10 s ({figures['silentGapHealedS']} s)",
    )
    if not FULL:
        record(
            "4",
            "pub/sub link reset, blackholed 2.5 s (also with nothing written after)",
            "contiguous versions or RESYNC for every subscriber, copies equal the store",
            **figures,
        )


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_pubsub_resets_and_blackholes_under_changes(
    app_factory: AppFactory, store: StateStore, empty_db: str
) -> None:
    faults = ["reset"] * 8 + ["blackhole"] * 3 + ["silent"] * 2
    random.Random(11).shuffle(faults)
    figures = await run_faults(
        app_factory, store, empty_db, subscribers=12, rate=200, faults=faults
    )
    timing_goal(
        float(figures["silentGapHealedS"]) < 10,
        f"a silent gap is noticed within 10 s ({figures['silentGapHealedS']} s)",
    )
    record(
        "4",
        "pub/sub link reset ×8, blackholed 2.5 s ×3, blackholed with nothing written after ×2, "
        "200 changes/s",
        "every subscriber (both protocols): contiguous versions or RESYNC, copy = store",
        **figures,
    )
