"""`RedisWatch` on real Redis: the store's version going back below what this process saw
(its own readings, or the live mirror's) means Redis lost writes: rebuild, once."""

from __future__ import annotations

from redis.asyncio import Redis

from ingest.patches import Patch
from ingest.store import StateStore
from ingest.watch import RedisWatch


class Rebuilds:
    """The reasons a watch asked for a rebuild."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    async def __call__(self, reason: str) -> None:
        self.reasons.append(reason)


async def _write(store: StateStore, count: int) -> int:
    for n in range(count):
        await store.apply([Patch("operator", "SIP/1", {"status": f"s{n}"})])
    return await store.version()


async def test_a_version_below_the_last_reading_rebuilds(
    store: StateStore, redis_client: Redis
) -> None:
    rebuilds = Rebuilds()
    watch = RedisWatch(store, rebuilds)
    version = await _write(store, 5)
    assert await watch.check() is None

    await redis_client.set(store.keys.version, version - 3)  # a replica that missed 3 writes
    reason = await watch.check()

    assert reason == f"Redis lost the live state (version {version} -> {version - 3})"
    assert rebuilds.reasons == [reason] and watch.rebuilds == 1
    assert await watch.check() is None, "compared from the rebuilt state on"


async def test_the_mirror_s_version_shows_writes_lost_between_two_readings(
    store: StateStore, redis_client: Redis
) -> None:
    """The watch read 2; the mirror then received up to 6; a failover lands on a replica
    at 4: no reading of the watch was ever above 4, the mirror's was."""
    rebuilds = Rebuilds()
    mirror = {"version": 0}
    watch = RedisWatch(store, rebuilds, seen_version=lambda: mirror["version"])
    mirror["version"] = await _write(store, 2)
    assert await watch.check() is None
    mirror["version"] = await _write(store, 4)
    await redis_client.set(store.keys.version, 4)

    reason = await watch.check()

    assert reason == "Redis lost the live state (version 6 -> 4)"
    # Until the mirror reloads it still shows 6: that is the same loss, not another one.
    assert await watch.check() is None and rebuilds.reasons == [reason]
    mirror["version"] = 4  # reloaded
    assert await watch.check() is None
    mirror["version"] = await _write(store, 1)
    assert await watch.check() is None and len(rebuilds.reasons) == 1


async def test_a_mirror_behind_the_store_is_not_a_loss(store: StateStore) -> None:
    rebuilds = Rebuilds()
    watch = RedisWatch(store, rebuilds, seen_version=lambda: 1)
    await _write(store, 3)
    assert await watch.check() is None and await watch.check() is None
    assert rebuilds.reasons == []
