"""The broadcaster on real Redis: order, gaps, counter resets, reconnects, slow subscribers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import orjson
import pytest
from redis.asyncio import Redis

from api.broadcast import Broadcaster, Subscriber, SubscriberOverflow
from api.live import LiveBatch, LiveEvent, LiveReset, LiveState
from ingest.patches import Patch
from ingest.store import StateStore
from tests.api.live_server import REDIS_URL, wait_for


async def next_event(subscriber: Subscriber[LiveEvent]) -> LiveEvent:
    """The subscriber's next event, within a second."""
    async with asyncio.timeout(2.0):
        return await anext(subscriber)


async def start(
    redis: Redis, store: StateStore, *, buffer_size: int = 100
) -> Broadcaster[LiveEvent]:
    """A running broadcaster over `store`, its live state loaded."""
    broadcaster: Broadcaster[LiveEvent] = Broadcaster(
        redis,
        store.keys.changes,
        LiveState(store),
        buffer_size=buffer_size,
        poll_interval=0.2,
        retry_delays=(0.01, 0.1),
    )
    await broadcaster.start()
    await wait_for(lambda: broadcaster.connected)
    return broadcaster


@pytest.fixture
async def broadcaster(
    redis_client: Redis, store: StateStore
) -> AsyncIterator[Broadcaster[LiveEvent]]:
    """A running broadcaster on the test's store."""
    running = await start(redis_client, store)
    try:
        yield running
    finally:
        await running.stop()


def operator(member_id: str, status: str) -> Patch:
    """A status change."""
    return Patch("operator", member_id, {"status": status})


async def test_batches_arrive_in_order_with_contiguous_versions(
    broadcaster: Broadcaster[LiveEvent], store: StateStore
) -> None:
    async with broadcaster.subscribe() as subscriber:
        await store.apply([operator("SIP/1", "idle"), operator("SIP/2", "idle")])
        await store.apply([operator("SIP/1", "ringing")])
        first, second = await next_event(subscriber), await next_event(subscriber)
    assert isinstance(first, LiveBatch) and isinstance(second, LiveBatch)
    assert (first.from_version, first.to_version) == (0, 2)
    assert (second.from_version, second.to_version) == (2, 3)
    assert broadcaster.subscriber_count == 0


async def test_a_version_gap_reloads_the_state_and_resets_subscribers(
    broadcaster: Broadcaster[LiveEvent], store: StateStore, redis_client: Redis
) -> None:
    await store.apply([operator("SIP/1", "idle")])
    async with broadcaster.subscribe() as subscriber:
        assert isinstance(await next_event(subscriber), LiveBatch)
        # As if messages 2..5 had been published while we were not listening.
        lost = [{"version": 6, "kind": "operator", "op": "upsert", "id": "SIP/9", "data": {}}]
        await redis_client.publish(store.keys.changes, orjson.dumps(lost))
        reset = await next_event(subscriber)
        assert reset == LiveReset(1, "missed versions 2..5")
        await store.apply([operator("SIP/1", "busy")])
        after = await next_event(subscriber)
    assert isinstance(after, LiveBatch) and after.from_version == 1
    assert broadcaster.loads == 2


async def test_a_counter_that_went_back_reloads(
    broadcaster: Broadcaster[LiveEvent], store: StateStore, redis_client: Redis
) -> None:
    await store.apply([operator("SIP/1", "idle"), operator("SIP/2", "idle")])
    async with broadcaster.subscribe() as subscriber:
        assert isinstance(await next_event(subscriber), LiveBatch)
        await redis_client.delete(store.keys.version)  # what FLUSHALL does to the counter
        await store.apply([operator("SIP/3", "idle")])
        reset = await next_event(subscriber)
    assert isinstance(reset, LiveReset)
    assert "went back" in reset.reason
    live = broadcaster.feed
    assert isinstance(live, LiveState)
    assert [op["memberId"] for op in live.operators()] == ["SIP/1", "SIP/2", "SIP/3"]


async def test_a_store_version_below_the_feed_s_while_idle_reloads(
    store: StateStore, redis_client: Redis
) -> None:
    """A failover to a replica that missed the last writes, with nothing written after:
    no batch shows it, the idle check does (the store's version below the feed's)."""
    broadcaster: Broadcaster[LiveEvent] = Broadcaster(
        redis_client,
        store.keys.changes,
        LiveState(store),
        poll_interval=0.1,
        retry_delays=(0.01, 0.1),
        current_version=store.version,
    )
    await broadcaster.start()
    try:
        await wait_for(lambda: broadcaster.connected)
        async with broadcaster.subscribe() as subscriber:
            await store.apply([operator("SIP/1", "idle")])
            await store.apply([operator("SIP/2", "idle")])
            await store.apply([operator("SIP/2", "busy")])
            for _ in range(3):
                assert isinstance(await next_event(subscriber), LiveBatch)
            await redis_client.set(store.keys.version, 1)  # the replica has only version 1
            reset = await next_event(subscriber)
        assert reset == LiveReset(1, "the store's version went back from 3 to 1")
        assert broadcaster.feed.version == 1
    finally:
        await broadcaster.stop()


async def test_an_undecodable_message_reloads(
    broadcaster: Broadcaster[LiveEvent], store: StateStore, redis_client: Redis
) -> None:
    async with broadcaster.subscribe() as subscriber:
        await redis_client.publish(store.keys.changes, b"not json")
        reset = await next_event(subscriber)
    assert reset == LiveReset(0, "undecodable change batch")


async def test_a_slow_subscriber_is_cut_off_and_never_slows_the_others(
    redis_client: Redis, store: StateStore
) -> None:
    broadcaster = await start(redis_client, store, buffer_size=3)
    try:
        async with broadcaster.subscribe() as slow, broadcaster.subscribe() as fast:
            for n in range(10):
                await store.apply([operator("SIP/1", "ringing" if n % 2 else "idle")])
                event = await next_event(fast)
                assert isinstance(event, LiveBatch) and event.to_version == n + 1
            assert broadcaster.subscriber_count == 1  # the slow one was dropped
            assert slow.pending == 1  # its buffer freed, only the final signal left
            with pytest.raises(SubscriberOverflow, match="more than 3 updates behind"):
                await next_event(slow)
            with pytest.raises(SubscriberOverflow):  # and it stays ended
                await next_event(slow)
        assert broadcaster.overflows == 1
    finally:
        await broadcaster.stop()


async def test_a_killed_pubsub_connection_reloads_and_goes_on(store: StateStore) -> None:
    name = f"qs-test-{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(REDIS_URL, client_name=name)
    broadcaster = await start(redis, StateStore(redis, store.keys))
    try:
        async with broadcaster.subscribe() as subscriber:
            clients = await redis.client_list(_type="pubsub")
            ours = [c["id"] for c in clients if c.get("name") == name]
            assert len(ours) == 1
            await redis.client_kill_filter(_id=ours[0])
            await store.apply([operator("SIP/1", "in_call")])
            seen: list[LiveEvent] = []
            while not any(isinstance(e, LiveReset) for e in seen):
                seen.append(await next_event(subscriber))
            reset = next(e for e in seen if isinstance(e, LiveReset))
            assert reset.reason == "Redis pub/sub reconnected"
            live = broadcaster.feed
            assert isinstance(live, LiveState)
            assert live.operator("SIP/1") is not None  # whether or not its message was lost
            await store.apply([operator("SIP/1", "idle")])
            latest = await store.version()
            event = await next_event(subscriber)
            while not (isinstance(event, LiveBatch) and event.to_version == latest):
                event = await next_event(subscriber)
    finally:
        await broadcaster.stop()
        await redis.aclose()


async def test_stop_ends_every_subscriber(redis_client: Redis, store: StateStore) -> None:
    broadcaster = await start(redis_client, store)
    async with broadcaster.subscribe() as subscriber:
        await broadcaster.stop()
        assert [event async for event in subscriber] == []
        assert broadcaster.subscriber_count == 0
        assert not broadcaster.connected
